/**
 * `npm run chaos [-- --size small|full] [-- --only name,name] [-- --cluster]`: the fault-injection suite.
 * Runs every scenario of chaos/scenarios.ts on its own embedded Temporal server — or, with `--cluster`
 * (or `--suite cluster`), the cluster scenarios, each on its own platform/cluster.ts cluster (the Temporal
 * Server on PostgreSQL) — prints one row per scenario, writes chaos/results/<size>.json and .md (cluster:
 * cluster.json and .md, cluster-full.* at the full size), and exits non-zero when a job was lost, an
 * action ran twice or a completed model step was paid twice.
 */
import path from 'node:path';
import { renderDefinitions, renderTable, verdictOf, writeResults } from './report';
import { clusterScenarios, runChaosSuite, scenarios, type ChaosSize, type ChaosSuite, type ScenarioName } from './scenarios';

function option(name: string): string | undefined {
  const args = process.argv.slice(2);
  const index = args.indexOf(`--${name}`);
  if (index >= 0) return args[index + 1];
  return args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
}

async function main(): Promise<number> {
  const requested = option('size') ?? 'small';
  if (requested !== 'small' && requested !== 'full') {
    console.error(`--size must be small or full, not "${requested}"`);
    return 2;
  }
  const size: ChaosSize = requested;
  const suiteName = process.argv.includes('--cluster') ? 'cluster' : (option('suite') ?? 'embedded');
  if (suiteName !== 'embedded' && suiteName !== 'cluster') {
    console.error(`--suite must be embedded or cluster, not "${suiteName}"`);
    return 2;
  }
  const suite: ChaosSuite = suiteName;
  const known = Object.keys(suite === 'cluster' ? clusterScenarios : scenarios);
  const only = option('only')?.split(',').filter(Boolean) as ScenarioName[] | undefined;
  const unknown = only?.filter((name) => !known.includes(name)) ?? [];
  if (unknown.length) {
    console.error(`unknown scenario(s) ${unknown.join(', ')} in the ${suite} suite; known: ${known.join(', ')}`);
    return 2;
  }
  const startedAt = new Date().toISOString();
  const rows = await runChaosSuite({ size, suite, only, log: (line) => console.error(`  ${line}`) });
  console.log(renderTable(rows));
  console.log('');
  for (const row of rows) for (const line of [...row.events, ...row.notes]) console.log(`${row.scenario}: ${line}`);
  console.log('');
  console.log(renderDefinitions());
  const written = writeResults(path.join(__dirname, 'results'), size, rows, startedAt, suite);
  const verdict = verdictOf(rows);
  console.log('');
  console.log(verdict.passed ? 'PASS: nothing lost, no action twice, no completed step paid twice' : `FAIL: ${verdict.problems.join('; ')}`);
  console.log(`written: ${path.relative(process.cwd(), written.markdown)}, ${path.relative(process.cwd(), written.json)}`);
  return verdict.passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
