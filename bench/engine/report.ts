/**
 * Presents the engine benchmark's results: the table printed to the terminal, bench/results/engine.json
 * (machine, Node version, load average, date, every figure with unit, goal and pass/fail, and the section
 * details) and bench/results/engine.md (the same table in markdown, the command that produced it, and
 * what each figure measures). A figure measured on both servers is one row with a column per server.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BenchOptions, BenchServer, Figure, SectionOutcome } from './figures';
import { formatNumber, loadAverage } from './measure';

export interface EngineReport {
  command: string;
  /** The checkout's commit (git rev-parse --short HEAD), when there is one. */
  commit?: string;
  date: string;
  durationSeconds: number;
  machine: { cpus: number; cpuModel: string; memoryGb: number; platform: string; arch: string; kernel: string };
  node: string;
  temporal: { sdk: string; cli?: string; cluster?: { server: string; postgres: number; fsync: boolean; startSeconds?: number } };
  servers: BenchServer[];
  loadAverage: { start: [number, number, number]; end: [number, number, number]; note: string };
  options: BenchOptions;
  figures: Figure[];
  sections: SectionOutcome[];
  passed: number;
  failed: number;
}

export function machineInfo(): EngineReport['machine'] {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    platform: os.platform(),
    arch: os.arch(),
    kernel: os.release(),
  };
}

export function buildReport(fields: Omit<EngineReport, 'figures' | 'passed' | 'failed' | 'loadAverage'> & { loadAverageStart: [number, number, number] }): EngineReport {
  const figures = fields.sections.flatMap((section) => section.figures);
  const { loadAverageStart, ...rest } = fields;
  return {
    ...rest,
    loadAverage: {
      start: loadAverageStart,
      end: loadAverage(),
      note: 'os.loadavg() (1, 5, 15 min) at the start and end of the run; each section records its own. Other processes on this machine may have been running.',
    },
    figures,
    passed: figures.filter((item) => item.pass === true).length,
    failed: figures.filter((item) => item.pass === false).length,
  };
}

/**
 * A figure's value as the tables show it: three significant digits, more when three would round it onto its
 * goal's threshold (1.303× shown as "1.3 ×" beside "≤ 1.3×" would read as met).
 */
function shown(item: Figure): string {
  let digits = 3;
  while (item.goal && digits < 6 && item.value !== item.goal.target && Number(item.value.toPrecision(digits)) === item.goal.target) digits++;
  return `${formatNumber(item.value, digits)} ${item.unit}`;
}

const verdict = (item: Figure | undefined) => (item?.pass === undefined ? '' : item.pass ? 'pass' : 'FAIL');
const serverColumn: Record<BenchServer, string> = { embedded: 'embedded', cluster: 'cluster' };

/** One row per figure key: its value on each server of the run, the goal, and the verdict per server. */
function rows(report: EngineReport): string[][] {
  const keys = [...new Set(report.figures.map((item) => item.key))];
  return keys.map((key) => {
    const measured = report.servers.map((server) => report.figures.find((item) => item.key === key && (item.server ?? 'embedded') === server));
    const first = measured.find((item) => item !== undefined)!;
    const verdicts = measured.map(verdict);
    const result = report.servers.length > 1 && verdicts.some(Boolean) ? report.servers.map((server, index) => (measured[index] ? `${serverColumn[server]} ${verdicts[index]}` : '')).filter(Boolean).join(', ') : verdicts.join('');
    return [first.label, ...measured.map((item) => (item ? shown(item) : '–')), first.goal?.text ?? '', result];
  });
}

const header = (report: EngineReport) => ['figure', ...report.servers.map((server) => serverColumn[server]), 'goal', 'result'];

export function printTable(report: EngineReport, print: (line: string) => void): void {
  const columns = header(report);
  const table = [columns, ...rows(report)];
  const widths = columns.map((_, column) => Math.max(...table.map((row) => (row[column] ?? '').length)));
  const line = (row: string[]) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd();
  print('');
  print(line(columns));
  print(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of table.slice(1)) print(line(row));
  for (const section of report.sections) if (section.error) print(`section ${section.section}${section.server === 'cluster' ? ' on the cluster' : ''} failed: ${section.error}`);
  print(`\n${report.passed} goal(s) met, ${report.failed} missed; load average ${report.loadAverage.start.join(' / ')} at start, ${report.loadAverage.end.join(' / ')} at end.`);
}

function markdown(report: EngineReport): string {
  const { machine } = report;
  const lines = [
    '# Engine benchmark',
    '',
    `Produced by \`${report.command}\`${report.commit ? ` at commit ${report.commit}` : ''} on ${report.date} in ${Math.round(report.durationSeconds)} s.`,
    '',
    `Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGb} GB, ${machine.platform} ${machine.kernel} (${machine.arch}); Node ${report.node}; Temporal TypeScript SDK ${report.temporal.sdk}${report.temporal.cli ? `, ${report.temporal.cli} (embedded dev server, SQLite)` : ''}.`,
    '',
    ...serverLines(report),
    ...(report.options.preloadModules.length
      ? [`Factory workflows bundled with preloadModules ${report.options.preloadModules.join(', ')} (an experiment, not the worker's bundle).`, '']
      : []),
    `Load average (1 / 5 / 15 min): ${report.loadAverage.start.join(' / ')} at the start, ${report.loadAverage.end.join(' / ')} at the end. Other processes may have shared the CPU; each section's load average is in engine.json.`,
    '',
    `| ${header(report).join(' | ')} |`,
    `| --- | ${report.servers.map(() => '---: | ').join('')}--- | --- |`,
    ...rows(report).map((row) => `| ${row.join(' | ')} |`),
    '',
    `${report.passed} goal(s) met, ${report.failed} missed.`,
    '',
  ];
  const failedSections = report.sections.filter((section) => section.error);
  if (failedSections.length) {
    lines.push('## Sections that failed', '', ...failedSections.map((section) => `- ${section.section}${section.server === 'cluster' ? ' on the cluster' : ''}: ${section.error}`), '');
  }
  lines.push('## What each figure measures', '');
  lines.push(
    'Every Conveyor job here uses a no-op model provider (a fixed, schema-valid answer at once, no cache, no rate limiter), so the figures are the engine\'s: Temporal, the workflows, the gateway. Workers run in their own processes (one per measurement where memory matters) against a server started for the run with a fresh database: the embedded Temporal dev server (SQLite), and for the overhead and throughput yardsticks also the cluster (Temporal Server on PostgreSQL) when the run includes it. Ratios (factory / raw) compare figures measured on the same server in the same run.',
    '',
  );
  const described = new Set<string>();
  for (const item of report.figures) {
    if (described.has(item.key)) continue;
    described.add(item.key);
    lines.push(`- **${item.label}** (${item.unit}): ${item.measures}`);
  }
  lines.push('');
  return lines.join('\n');
}

/** What the server columns are: which server, which sections ran on it, its load while they ran. */
function serverLines(report: EngineReport): string[] {
  const cluster = report.temporal.cluster;
  const lines = ['Servers (one column each, measured in this run, one after the other):', ''];
  for (const server of report.servers) {
    const sections = report.sections.filter((section) => (section.server ?? 'embedded') === server);
    const loads = sections.map((section) => `${section.section} ${section.loadAverage.start[0]}–${section.loadAverage.end[0]}`).join(', ');
    const what =
      server === 'embedded'
        ? 'the embedded dev server (`temporal server start-dev`, SQLite in the run\'s folder); workers keep their stores under the data dir'
        : `the cluster (platform/cluster.ts): Temporal Server ${cluster?.server ?? ''} (frontend, history, matching and worker services in one process) on PostgreSQL ${cluster?.postgres ?? ''}${cluster?.fsync ? ' with fsync and synchronous commits on (`fast: false`)' : ''}, started for the run${cluster?.startSeconds !== undefined ? ` in ${Math.round(cluster.startSeconds)} s` : ''}; the client and workers run with CONVEYOR_DATABASE_URL as a fleet's do (these jobs propose no action and pass their batches inline, so of the shared stores only the learning registry is read)`;
    lines.push(`- **${serverColumn[server]}**: ${what}. Sections: ${sections.map((section) => section.section).join(', ') || 'none'}; 1-min load average at each section's start–end: ${loads || 'n/a'}.`);
  }
  lines.push('');
  return lines;
}

export function writeReport(report: EngineReport, resultsDir: string): { json: string; md: string } {
  fs.mkdirSync(resultsDir, { recursive: true });
  const json = path.join(resultsDir, 'engine.json');
  const md = path.join(resultsDir, 'engine.md');
  const numbers = (_key: string, value: unknown) => {
    if (typeof value !== 'number') return value;
    if (!Number.isFinite(value)) return Number.isNaN(value) ? null : String(value);
    return Number.isInteger(value) ? value : Number(value.toPrecision(6));
  };
  fs.writeFileSync(json, `${JSON.stringify(report, numbers, 2)}\n`);
  fs.writeFileSync(md, markdown(report));
  return { json, md };
}
