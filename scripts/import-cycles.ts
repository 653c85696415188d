/**
 * Fails when the top-level source folders import each other in a cycle. The graph is read from the real
 * import statements (value and type-only, static and dynamic) of every file tsconfig.json includes, resolved
 * the way the compiler resolves them; an edge joins two folders when a file in one imports a file in the
 * other. The per-folder rules (who may import whom) are in eslint.config.js; this is the part ESLint cannot
 * see, since a cycle spans many files. `npm run lint` runs it: `tsx scripts/import-cycles.ts [root]`.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export interface ImportEdge {
  from: string;
  to: string;
  typeOnly: boolean;
}

function isTypeOnlyImport(node: ts.ImportDeclaration): boolean {
  const clause = node.importClause;
  if (!clause) return false; // `import './x'` runs the module
  if (clause.isTypeOnly) return true;
  const named = clause.namedBindings;
  return !clause.name && named !== undefined && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((element) => element.isTypeOnly);
}

/** Every relative module specifier in one file, with whether it is erased at runtime. */
function moduleSpecifiers(sourceFile: ts.SourceFile): { specifier: string; typeOnly: boolean }[] {
  const found: { specifier: string; typeOnly: boolean }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({ specifier: node.moduleSpecifier.text, typeOnly: isTypeOnlyImport(node) });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({ specifier: node.moduleSpecifier.text, typeOnly: node.isTypeOnly });
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference) && ts.isStringLiteral(node.moduleReference.expression)) {
      found.push({ specifier: node.moduleReference.expression.text, typeOnly: node.isTypeOnly });
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require')) &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      found.push({ specifier: node.arguments[0].text, typeOnly: false });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push({ specifier: node.argument.literal.text, typeOnly: true });
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return found.filter((entry) => entry.specifier.startsWith('.'));
}

/** File-level import edges between the project's own files (paths relative to root). */
export function importEdges(root: string): ImportEdge[] {
  const configFile = path.join(root, 'tsconfig.json');
  const config = ts.getParsedCommandLineOfConfigFile(configFile, {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(`${configFile}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`);
    },
  });
  if (!config) throw new Error(`${configFile} could not be read`);
  const edges: ImportEdge[] = [];
  for (const file of config.fileNames) {
    const sourceFile = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    for (const { specifier, typeOnly } of moduleSpecifiers(sourceFile)) {
      const resolved = ts.resolveModuleName(specifier, file, config.options, ts.sys).resolvedModule;
      if (!resolved || resolved.isExternalLibraryImport) continue; // tsc reports unresolved imports
      edges.push({ from: path.relative(root, file), to: path.relative(root, resolved.resolvedFileName), typeOnly });
    }
  }
  return edges;
}

/** The top-level folder a file belongs to; files at the root (a package entry, configs) count as one more. */
function folderOf(file: string): string {
  const parts = file.split(/[\\/]/);
  return parts.length > 1 ? parts[0]! : '(root)';
}

/** Folder → folders it imports, each with one file-level import as the example (a value import when there is one). */
export function folderGraph(edges: readonly ImportEdge[]): Map<string, Map<string, ImportEdge>> {
  const graph = new Map<string, Map<string, ImportEdge>>();
  for (const edge of edges) {
    const from = folderOf(edge.from);
    const to = folderOf(edge.to);
    if (from === to) continue;
    const targets = graph.get(from) ?? new Map<string, ImportEdge>();
    if (!targets.has(to) || (targets.get(to)!.typeOnly && !edge.typeOnly)) targets.set(to, edge);
    graph.set(from, targets);
  }
  return graph;
}

/** Strongly connected components with more than one folder (Tarjan), each as a list of folders. */
export function folderCycles(graph: ReadonlyMap<string, ReadonlyMap<string, ImportEdge>>): string[][] {
  const index = new Map<string, number>();
  const lowLink = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  let next = 0;
  const connect = (folder: string): void => {
    index.set(folder, next);
    lowLink.set(folder, next);
    next++;
    stack.push(folder);
    onStack.add(folder);
    for (const target of graph.get(folder)?.keys() ?? []) {
      if (!index.has(target)) {
        connect(target);
        lowLink.set(folder, Math.min(lowLink.get(folder)!, lowLink.get(target)!));
      } else if (onStack.has(target)) {
        lowLink.set(folder, Math.min(lowLink.get(folder)!, index.get(target)!));
      }
    }
    if (lowLink.get(folder) === index.get(folder)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== folder);
      if (component.length > 1) components.push(component.sort());
    }
  };
  for (const folder of [...graph.keys()].sort()) if (!index.has(folder)) connect(folder);
  return components;
}

/** One concrete loop inside a component, as the file-level imports that close it. */
export function cyclePath(graph: ReadonlyMap<string, ReadonlyMap<string, ImportEdge>>, component: readonly string[]): ImportEdge[] {
  const members = new Set(component);
  const start = component[0]!;
  // Breadth-first from start back to start inside the component: the shortest loop through it.
  const cameFrom = new Map<string, ImportEdge>();
  const queue = [start];
  while (queue.length > 0) {
    const folder = queue.shift()!;
    for (const [target, edge] of graph.get(folder) ?? []) {
      if (!members.has(target) || cameFrom.has(target)) continue;
      cameFrom.set(target, edge);
      if (target === start) queue.length = 0;
      else queue.push(target);
    }
  }
  const loop: ImportEdge[] = [];
  let at = start;
  do {
    const edge = cameFrom.get(at)!;
    loop.unshift(edge);
    at = folderOf(edge.from);
  } while (at !== start);
  return loop;
}

export function describeCycles(root: string): string[] {
  const graph = folderGraph(importEdges(root));
  return folderCycles(graph).map((component) => {
    const loop = cyclePath(graph, component);
    const folders = [...loop.map((edge) => folderOf(edge.from)), folderOf(loop[0]!.from)].join(' → ');
    const line = (edge: ImportEdge) => `    ${edge.from} imports ${edge.to}${edge.typeOnly ? ' (type only)' : ''}`;
    // The other imports between the same folders: each is one more edge to cut or keep.
    const others = component.flatMap((folder) =>
      [...(graph.get(folder) ?? [])].filter(([target, edge]) => component.includes(target) && !loop.includes(edge)).map(([, edge]) => edge),
    );
    const more = others.length > 0 ? `\n  other imports between these folders:\n${others.map(line).join('\n')}` : '';
    return `import cycle between folders ${component.join(', ')}: ${folders}\n${loop.map(line).join('\n')}${more}`;
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(__filename)) {
  const root = path.resolve(process.argv[2] ?? path.join(__dirname, '..'));
  const cycles = describeCycles(root);
  if (cycles.length > 0) {
    console.error(`${cycles.join('\n')}\nMove the shared piece down to the folder both sides may import (see eslint.config.js for the layers).`);
    process.exit(1);
  }
}
