/**
 * Static checks of docker-compose.yml, the worker Dockerfile and deploy/: everything that can be
 * verified without a Docker engine. Service order, pins, ports, database settings, the search
 * attributes the setup job registers (against domain/search-attributes.ts), the worker's
 * connection settings (against platform/settings.ts), and that compose and `conveyor cluster`
 * (platform/cluster.ts) run the same server release, PostgreSQL major and dynamic config.
 * `docker compose config` validates the file too (it needs no engine; npm test builds Compose when the machine has none).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { conveyorSearchAttributes } from '../domain/search-attributes';
import { clusterDynamicConfigFile, TEMPORAL_SERVER_VERSION } from '../platform/cluster';
import { POSTGRES_MAJOR } from '../platform/postgres-server';
import { findDockerCompose } from '../scripts/ensure-docker-compose';
import { loadSettings, workerEnvironmentVariables } from '../platform/settings';

const { NODE_MAJOR } = createRequire(__filename)('../scripts/bootstrap.js') as { NODE_MAJOR: number };

type EnvValue = string | number | boolean | null;

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  depends_on?: string[] | Record<string, { condition?: string } | null>;
  environment?: string[] | Record<string, EnvValue>;
  ports?: (string | number | { target: number; published?: string | number; host_ip?: string })[];
  volumes?: (string | { type?: string; source?: string; target: string })[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  entrypoint?: string | string[];
  command?: string | string[];
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const root = path.resolve(__dirname, '..');
const compose = parse(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8')) as ComposeFile;
const services = compose.services;

/** The roles this file is about, by service name. */
const names = {
  postgres: 'postgresql',
  schema: 'temporal-schema',
  server: 'temporal',
  setup: 'temporal-setup',
  ui: 'temporal-ui',
  worker: 'worker',
} as const;

const GRPC_PORT = 7233;

function service(name: string): ComposeService {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service "${name}"`);
  return found;
}

/** Environment as a map, from either the list ("K=V") or the map form; a bare key maps to null. */
function envOf(svc: ComposeService): Record<string, string | null> {
  const env = svc.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const eq = entry.indexOf('=');
        return eq < 0 ? [entry, null] : [entry.slice(0, eq), entry.slice(eq + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value === null ? null : String(value)]));
}

/** depends_on as service -> condition (the short list form means service_started). */
function dependenciesOf(svc: ComposeService): Record<string, string> {
  const deps = svc.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((dep) => [dep, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([dep, spec]) => [dep, spec?.condition ?? 'service_started']));
}

interface PublishedPort {
  hostIp: string | undefined;
  published: number;
  target: number;
}

function portsOf(svc: ComposeService): PublishedPort[] {
  return (svc.ports ?? []).map((port) => {
    if (typeof port === 'object') {
      return { hostIp: port.host_ip, published: Number(port.published ?? port.target), target: port.target };
    }
    const parts = String(port).replace(/\/(tcp|udp)$/, '').split(':');
    const target = Number(parts.at(-1));
    if (parts.length === 1) return { hostIp: undefined, published: target, target };
    if (parts.length === 2) return { hostIp: undefined, published: Number(parts[0]), target };
    return { hostIp: parts.slice(0, -2).join(':'), published: Number(parts.at(-2)), target };
  });
}

interface BindMount {
  source: string; // absolute path on the host
  target: string; // path in the container
}

function bindMountsOf(svc: ComposeService): BindMount[] {
  const mounts: BindMount[] = [];
  for (const volume of svc.volumes ?? []) {
    const [source, target] =
      typeof volume === 'string' ? volume.split(':') : [volume.type === 'bind' ? volume.source : undefined, volume.target];
    if (source && target && (source.startsWith('.') || source.startsWith('/'))) {
      mounts.push({ source: path.resolve(root, source), target });
    }
  }
  return mounts;
}

/** Maps a path inside a service's container back to the host file it is mounted from, if any. */
function hostPathOf(svc: ComposeService, containerPath: string): string | undefined {
  for (const mount of bindMountsOf(svc)) {
    if (containerPath === mount.target) return mount.source;
    if (containerPath.startsWith(`${mount.target}/`)) return path.join(mount.source, containerPath.slice(mount.target.length + 1));
  }
  return undefined;
}

function words(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : value.split(/\s+/).filter(Boolean);
}

/** The shell script a one-shot job runs: the first mounted *.sh named by its entrypoint or command. */
function scriptOf(name: string): { file: string; text: string } {
  const svc = service(name);
  for (const word of [...words(svc.entrypoint), ...words(svc.command)]) {
    if (!word.endsWith('.sh')) continue;
    const file = hostPathOf(svc, word);
    if (file) return { file, text: fs.readFileSync(file, 'utf8') };
  }
  throw new Error(`service "${name}" runs no script mounted from the repository`);
}

function imageTag(image: string): { repository: string; tag: string | undefined } {
  const at = image.indexOf('@');
  const withoutDigest = at < 0 ? image : image.slice(0, at);
  const colon = withoutDigest.lastIndexOf(':');
  if (colon < 0 || withoutDigest.slice(colon).includes('/')) return { repository: withoutDigest, tag: undefined };
  return { repository: withoutDigest.slice(0, colon), tag: withoutDigest.slice(colon + 1) };
}

function imageOf(name: string): { repository: string; tag: string | undefined } {
  const image = service(name).image;
  if (!image) throw new Error(`service "${name}" has no image`);
  return imageTag(image);
}

/** A search-attribute type as the SDK ('KEYWORD_LIST') or the CLI ('KeywordList') spells it, normalised. */
const normalizeType = (type: string): string => type.replace(/^INDEXED_VALUE_TYPE_/, '').replace(/_/g, '').toLowerCase();

describe('docker-compose.yml', () => {
  it('defines the cluster, its one-shot jobs, the UI and the worker', () => {
    expect(Object.keys(services).sort()).toEqual(expect.arrayContaining(Object.values(names).sort()));
  });

  it(`pins every image, with the server and admin tools on the release the cluster builds (${TEMPORAL_SERVER_VERSION})`, () => {
    for (const [name, svc] of Object.entries(services)) {
      if (!svc.image) {
        expect(svc.build, `service "${name}" needs an image or a build`).toBeDefined();
        continue;
      }
      const { tag } = imageTag(svc.image);
      expect(tag, `image of "${name}" has no tag`).toBeDefined();
      expect(tag, `image of "${name}"`).not.toBe('latest');
    }
    expect(imageOf(names.postgres).repository).toBe('postgres');
    expect(imageOf(names.postgres).tag).toMatch(/^1[2-9](\.\d+)*(-[\w.]+)?$/);
    expect(imageOf(names.server).repository).toBe('temporalio/server');
    expect(imageOf(names.server).tag).toBe(TEMPORAL_SERVER_VERSION.replace(/^v/, ''));
    expect(imageOf(names.ui).repository).toBe('temporalio/ui');
    expect(imageOf(names.ui).tag).toMatch(/^\d+\.\d+\.\d+$/);
    for (const job of [names.schema, names.setup]) {
      // admin-tools tags name the server release, then the bundled CLIs: 1.29.1-tctl-1.18.4-cli-1.5.0.
      expect(imageOf(job).repository).toBe('temporalio/admin-tools');
      expect(imageOf(job).tag?.split('-')[0]).toBe(imageOf(names.server).tag);
    }
    expect(imageOf(names.schema).tag).toBe(imageOf(names.setup).tag);
  });

  it('runs the PostgreSQL major that Conveyor\'s own scripts start and test', () => {
    expect(Number(imageOf(names.postgres).tag?.split(/[.-]/)[0])).toBe(POSTGRES_MAJOR);
  });

  it('gives the server the same dynamic config file the cluster script uses', () => {
    const server = service(names.server);
    const file = hostPathOf(server, path.posix.resolve('/etc/temporal', envOf(server).DYNAMIC_CONFIG_FILE_PATH ?? ''));
    expect(file).toBe(clusterDynamicConfigFile());
  });

  it('publishes the frontend on 7233 and the UI on 8080, on 127.0.0.1 only', () => {
    expect(portsOf(service(names.server))).toContainEqual({ hostIp: '127.0.0.1', published: GRPC_PORT, target: GRPC_PORT });
    expect(portsOf(service(names.ui))).toContainEqual({ hostIp: '127.0.0.1', published: 8080, target: 8080 });
    for (const [name, svc] of Object.entries(services)) {
      for (const port of portsOf(svc)) expect(port.hostIp, `port ${port.published} of "${name}"`).toBe('127.0.0.1');
    }
  });

  it('keeps PostgreSQL data in a declared volume and health-checks it', () => {
    const postgres = service(names.postgres);
    const dataVolume = (postgres.volumes ?? [])
      .map((volume) => (typeof volume === 'string' ? volume.split(':') : [volume.source, volume.target]))
      .find(([, target]) => target === '/var/lib/postgresql/data');
    expect(dataVolume?.[0]).toBeDefined();
    expect(Object.keys(compose.volumes ?? {})).toContain(dataVolume?.[0]);
    expect(words(postgres.healthcheck?.test).join(' ')).toContain('pg_isready');
  });

  it('points the server and the schema job at the PostgreSQL service with the postgres12 plugin', () => {
    const postgresEnv = envOf(service(names.postgres));
    const serverEnv = envOf(service(names.server));
    expect(serverEnv).toMatchObject({
      DB: 'postgres12',
      DB_PORT: '5432',
      POSTGRES_SEEDS: names.postgres,
      POSTGRES_USER: postgresEnv.POSTGRES_USER,
      POSTGRES_PWD: postgresEnv.POSTGRES_PASSWORD,
    });
    expect(envOf(service(names.schema))).toMatchObject({
      POSTGRES_SEEDS: names.postgres,
      POSTGRES_USER: postgresEnv.POSTGRES_USER,
      SQL_PASSWORD: postgresEnv.POSTGRES_PASSWORD,
    });
  });

  it('starts services in order: postgres → schema → server → namespace/search attributes → worker', () => {
    const expected: [string, string, string][] = [
      [names.schema, names.postgres, 'service_healthy'],
      [names.server, names.schema, 'service_completed_successfully'],
      [names.setup, names.server, 'service_healthy'],
      [names.ui, names.server, 'service_healthy'],
      [names.worker, names.setup, 'service_completed_successfully'],
    ];
    for (const [dependent, dependency, condition] of expected) {
      expect(dependenciesOf(service(dependent))[dependency], `${dependent} → ${dependency}`).toBe(condition);
    }
    for (const [name, svc] of Object.entries(services)) {
      for (const [dependency, condition] of Object.entries(dependenciesOf(svc))) {
        expect(Object.keys(services), `"${name}" depends on an undefined service`).toContain(dependency);
        if (condition === 'service_healthy') {
          expect(services[dependency]?.healthcheck?.test, `"${dependency}" needs a healthcheck`).toBeDefined();
        }
      }
    }
  });

  it('has no dependency cycle, and the chain comes out in order', () => {
    const order: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (name: string, trail: string[]): void => {
      if (state.get(name) === 'done') return;
      if (state.get(name) === 'visiting') throw new Error(`dependency cycle: ${[...trail, name].join(' → ')}`);
      state.set(name, 'visiting');
      for (const dependency of Object.keys(dependenciesOf(service(name)))) visit(dependency, [...trail, name]);
      state.set(name, 'done');
      order.push(name);
    };
    for (const name of Object.keys(services)) visit(name, []);
    const chain = [names.postgres, names.schema, names.server, names.setup, names.worker].map((name) => order.indexOf(name));
    expect(chain).toEqual([...chain].sort((a, b) => a - b));
  });

  it('sets up both databases with temporal-sql-tool (create, setup-schema, update-schema)', () => {
    const { text } = scriptOf(names.schema);
    expect(text).toContain('temporal-sql-tool');
    expect(text).toContain('--plugin postgres12');
    for (const database of ['temporal', 'temporal_visibility']) {
      for (const step of ['create', 'setup-schema', 'update-schema']) {
        expect(text, `${step} for ${database}`).toMatch(new RegExp(`--db ${database} ${step}\\b`));
      }
    }
    expect(text).toMatch(/schema\/postgresql\/v12|SCHEMA_DIR=\/etc\/temporal\/schema\/postgresql\/v12/);
    expect(text).toContain('/temporal/versioned');
    expect(text).toContain('/visibility/versioned');
  });

  it('registers exactly the search attributes declared in domain/search-attributes.ts', () => {
    const env = envOf(service(names.setup));
    const registered = (env.CONVEYOR_SEARCH_ATTRIBUTES ?? '')
      .split(/\s+/)
      .filter(Boolean)
      .map((pair) => {
        const [name = '', type = ''] = pair.split('=');
        return `${name}:${normalizeType(type)}`;
      });
    const declared = conveyorSearchAttributes.map((key) => `${key.name}:${normalizeType(key.type)}`);
    expect(registered.sort()).toEqual(declared.sort());

    const { text } = scriptOf(names.setup);
    expect(text).toMatch(/for \w+ in \$\{?CONVEYOR_SEARCH_ATTRIBUTES\}?/);
    expect(text).toContain('temporal operator search-attribute create');
    expect(text).toContain('temporal operator namespace create');
  });

  it('creates the namespace the worker uses, on the server the worker uses', () => {
    const setupEnv = envOf(service(names.setup));
    const workerEnv = envOf(service(names.worker));
    expect(setupEnv.TEMPORAL_NAMESPACE).toBe('default');
    expect(workerEnv.TEMPORAL_NAMESPACE).toBe(setupEnv.TEMPORAL_NAMESPACE);
    expect(setupEnv.TEMPORAL_ADDRESS).toBe(`${names.server}:${GRPC_PORT}`);
    expect(envOf(service(names.ui)).TEMPORAL_ADDRESS).toBe(`${names.server}:${GRPC_PORT}`);
  });

  it('gives the worker every connection setting, reaching the server service over gRPC', () => {
    const env = envOf(service(names.worker));
    expect(Object.keys(env)).toEqual(expect.arrayContaining([...workerEnvironmentVariables]));
    expect(env.TEMPORAL_ADDRESS).toBe(`${names.server}:${GRPC_PORT}`);
    expect(portsOf(service(names.server)).map((port) => port.target)).toContain(GRPC_PORT);
    const settings = loadSettings(Object.fromEntries(Object.entries(env).filter(([, value]) => value !== null)) as NodeJS.ProcessEnv);
    expect(settings).toMatchObject({ address: `${names.server}:${GRPC_PORT}`, namespace: 'default', taskQueue: env.CONVEYOR_TASK_QUEUE });
  });

  it('keeps the worker\'s shared stores in a conveyor database on the PostgreSQL service, created by the schema job', () => {
    const env = envOf(service(names.worker));
    const postgresEnv = envOf(service(names.postgres));
    const settings = loadSettings({ CONVEYOR_DATABASE_URL: env.CONVEYOR_DATABASE_URL ?? '' });
    const url = new URL(settings.databaseUrl ?? '');
    expect({ host: url.hostname, port: url.port, user: url.username, password: url.password, database: url.pathname.slice(1) }).toEqual({
      host: names.postgres,
      port: '5432',
      user: postgresEnv.POSTGRES_USER,
      password: postgresEnv.POSTGRES_PASSWORD,
      database: 'conveyor',
    });
    expect(scriptOf(names.schema).text).toMatch(/--db conveyor create\b/);
    // The worker reaches PostgreSQL only after the schema job (through the setup job and the server).
    expect(dependenciesOf(service(names.worker))[names.setup]).toBe('service_completed_successfully');
  });

  it('passes payload encryption and redaction through to the worker from the host environment', () => {
    const env = envOf(service(names.worker));
    for (const variable of ['CONVEYOR_ENCRYPTION_KEY', 'CONVEYOR_ENCRYPTION_KEY_ID', 'CONVEYOR_REDACT']) {
      expect(Object.keys(env), variable).toContain(variable);
      expect(env[variable], `${variable} is passed through, not set in the file`).toBeNull();
    }
  });

  it('scrapes the worker with Prometheus under the alert rules, and gives Grafana the dashboard', () => {
    const settings = loadSettings(Object.fromEntries(Object.entries(envOf(service(names.worker))).filter(([, value]) => value !== null)) as NodeJS.ProcessEnv);
    const metricsPort = Number(settings.metricsAddress?.split(':')[1]);
    expect(settings.metricsAddress).toMatch(/^0\.0\.0\.0:\d+$/);
    const prometheus = service('prometheus');
    const configFile = hostPathOf(prometheus, '/etc/prometheus/conveyor/prometheus.yml');
    expect(configFile).toBe(path.join(root, 'deploy', 'prometheus', 'prometheus.yml'));
    const config = parse(fs.readFileSync(configFile!, 'utf8')) as { rule_files: string[]; scrape_configs: { static_configs: { targets: string[] }[] }[] };
    expect(config.scrape_configs.flatMap((scrape) => scrape.static_configs.flatMap((group) => group.targets))).toContain(`${names.worker}:${metricsPort}`);
    expect(config.rule_files.map((file) => hostPathOf(prometheus, file))).toEqual([path.join(root, 'deploy', 'prometheus', 'conveyor-alerts.yml')]);
    const grafana = service('grafana');
    expect(hostPathOf(grafana, '/var/lib/grafana/dashboards/conveyor-dashboard.json')).toBe(path.join(root, 'deploy', 'grafana', 'conveyor-dashboard.json'));
    const datasource = parse(fs.readFileSync(hostPathOf(grafana, '/etc/grafana/provisioning/datasources/prometheus.yml')!, 'utf8')) as { datasources: { url: string }[] };
    expect(datasource.datasources[0]?.url).toBe(`http://prometheus:${portsOf(prometheus)[0]?.target}`);
  });

  it('builds the worker from the Dockerfile in the repository root', () => {
    const build = service(names.worker).build;
    const spec = typeof build === 'string' ? { context: build } : build;
    expect(path.resolve(root, spec?.context ?? '.')).toBe(root);
    expect(spec?.dockerfile ?? 'Dockerfile').toBe('Dockerfile');
  });

  it('mounts only files that exist, including the server dynamic config', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const mount of bindMountsOf(svc)) expect(fs.existsSync(mount.source), `bind mount ${mount.source} of "${name}"`).toBe(true);
    }
    const server = service(names.server);
    const configured = envOf(server).DYNAMIC_CONFIG_FILE_PATH ?? '';
    expect(configured).not.toBe('');
    // Relative paths are resolved from the server's working directory, /etc/temporal.
    const file = hostPathOf(server, path.posix.resolve('/etc/temporal', configured));
    expect(file).toBe(path.join(root, 'deploy', 'dynamicconfig', 'development-sql.yaml'));
    const dynamicConfig = parse(fs.readFileSync(file ?? '', 'utf8')) as Record<string, unknown>;
    for (const [key, values] of Object.entries(dynamicConfig)) {
      expect(Array.isArray(values), `dynamic config ${key} is a list of values`).toBe(true);
      for (const value of values as unknown[]) expect(value, `dynamic config ${key}`).toHaveProperty('value');
    }
  });
});

describe('docker compose config', () => {
  it('validates the file against the Compose specification (no engine needed)', () => {
    // The machine's compose plugin, or the one npm test builds into the per-user cache (scripts/ensure-docker-compose.ts).
    const compose = findDockerCompose();
    if (!compose) throw new Error('no Docker Compose: run npm test, or npx tsx scripts/ensure-docker-compose.ts, to build one');
    const [command = '', ...prefix] = compose;
    const result = spawnSync(command, [...prefix, '--file', path.join(root, 'docker-compose.yml'), 'config', '--quiet'], { encoding: 'utf8', env: { ...process.env, ANTHROPIC_API_KEY: '' } });
    expect(result.status, result.stderr).toBe(0);
  });
});

describe('deploy scripts', () => {
  const jobs = [names.schema, names.setup];

  it.each(jobs)('the script run by %s parses as POSIX sh', (name) => {
    const { file } = scriptOf(name);
    expect(() => execFileSync('sh', ['-n', file], { stdio: 'pipe' })).not.toThrow();
  });

  it.each(jobs)('the script run by %s uses no variable it neither sets nor gets from compose', (name) => {
    const { text } = scriptOf(name);
    const code = text
      .split('\n')
      .filter((line) => !line.trimStart().startsWith('#'))
      .join('\n')
      .replace(/'[^'\n]*'/g, "''"); // single-quoted text does not expand
    const defined = new Set<string>(Object.keys(envOf(service(name))));
    for (const match of code.matchAll(/(?:^|[\s;(|&])(?:local\s+|export\s+|readonly\s+)?([A-Za-z_]\w*)=/gm)) defined.add(match[1] ?? '');
    for (const match of code.matchAll(/\bfor\s+([A-Za-z_]\w*)\s+in\b/g)) defined.add(match[1] ?? '');
    for (const match of code.matchAll(/-v\s+([A-Za-z_]\w*)=/g)) defined.add(match[1] ?? ''); // awk -v
    const used = new Set<string>();
    for (const match of code.matchAll(/\$\{([A-Za-z_]\w*)(:?[-=?+])?/g)) {
      const operator = match[2] ?? '';
      if (!['-', ':-', '=', ':='].includes(operator)) used.add(match[1] ?? '');
    }
    for (const match of code.matchAll(/\$([A-Za-z_]\w*)/g)) used.add(match[1] ?? '');
    const awkFields = new Set(['NF', 'NR']);
    const undefinedVariables = [...used].filter((variable) => !defined.has(variable) && !awkFields.has(variable));
    expect(undefinedVariables).toEqual([]);
  });
});

describe('Dockerfile', () => {
  const dockerfile = fs.existsSync(path.join(root, 'Dockerfile')) ? fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8') : '';
  const instructions = dockerfile
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));

  it('exists and builds on the Node major the project runs on', () => {
    expect(dockerfile).not.toBe('');
    const bases = instructions.filter((line) => /^FROM\s/i.test(line));
    expect(bases.length).toBeGreaterThan(0);
    for (const base of bases) expect(base).toMatch(new RegExp(`^FROM\\s+(--platform=\\S+\\s+)?node:${NODE_MAJOR}[.\\w-]*(\\s+AS\\s+\\w+)?$`, 'i'));
  });

  it('installs exactly the locked dependencies with npm ci', () => {
    expect(instructions.some((line) => /^RUN\s.*\bnpm ci\b/.test(line))).toBe(true);
    expect(instructions.some((line) => /^COPY\s.*package-lock\.json/.test(line))).toBe(true);
  });

  it('builds the package in the image and starts the built worker, dist/workers/worker.js, with node', () => {
    expect(instructions.some((line) => /^RUN\s.*\bnpm run build\b/.test(line))).toBe(true);
    const start = instructions.filter((line) => /^(CMD|ENTRYPOINT)\s/.test(line)).at(-1) ?? '';
    expect(start).toBe('CMD ["node", "dist/workers/worker.js"]');
    expect(start).not.toContain('tsx');
    // What `npm run build` writes there: the compiled worker beside the rest of dist/.
    const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { exports: Record<string, { default?: string }> };
    expect(manifest.exports['./worker']?.default).toBe('./dist/workers/worker.js');
  });

  it('keeps local state and dependencies out of the build context', () => {
    const ignored = fs
      .readFileSync(path.join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim().replace(/^\/|\/$/g, ''));
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', '.conveyor', 'test-output', '.git', 'dist']));
  });
});
