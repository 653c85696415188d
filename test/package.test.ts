/**
 * Conveyor as a package (issue 16): `npm pack` here, `npm install` in a scratch project outside the
 * repository, and a factory written in that project's own files — TypeScript, plain-JavaScript ESM and
 * CommonJS — run by the installed `conveyor worker --factory` on the suite's real server. Jobs started
 * through the installed client and through the installed `conveyor run` plan, route, escalate on low
 * confidence, wait for approval and act once after `conveyor approve`. Nothing in the scratch project
 * reaches into the repository: it has the tarball, the registry's dependencies and its own code.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answers, startFakeOpenAI, type FakeAnswer, type RecordedRequest } from '../fakes/openai-server';
import { promptsOf } from '../fakes/station-answers';
import { findTemporalCli } from '../platform/temporal-cli';
import { cliEnvironment, jsonLinesIn, repoRoot, runProcess, startWorkerProcess } from './support/cli';
import { eventually, testSettings, uniqueId } from './support/temporal';

/** The machine's npm (the pinned Node 24 comes without one), run on this Node 24. */
function npmCliPath(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'npm');
    if (dir && fs.existsSync(candidate)) return fs.realpathSync(candidate);
  }
  throw new Error('no npm on PATH: the package test installs the packed package with it');
}
const npmCli = npmCliPath();
const tscCli = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
let scratch: string;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'conveyor-scratch-'));
  expect(path.relative(repoRoot, scratch).startsWith('..')).toBe(true);
  const packed = await runProcess(process.execPath, [npmCli, 'pack', '--pack-destination', scratch], { cwd: repoRoot, timeoutMs: 240_000 });
  expect(packed.code, packed.stderr).toBe(0);
  const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { name: string; version: string; devDependencies: Record<string, string> };
  const tarball = path.join(scratch, `${manifest.name}-${manifest.version}.tgz`);
  fs.writeFileSync(path.join(scratch, 'package.json'), JSON.stringify({ name: 'permit-desk', version: '1.0.0', private: true }, null, 2));
  // @types/node for the TypeScript project's own use of Node (the version this repository pins).
  const typesNode = `@types/node@${manifest.devDependencies['@types/node']}`;
  // standardwebhooks for examples/city-hotline's receiver (the version this repository's tests verify with).
  const standardWebhooks = `standardwebhooks@${manifest.devDependencies.standardwebhooks}`;
  const installed = await runProcess(process.execPath, [npmCli, 'install', '--no-audit', '--no-fund', '--prefer-offline', tarball, typesNode, standardWebhooks], { cwd: scratch, timeoutMs: 300_000 });
  expect(installed.code, installed.stderr).toBe(0);
}, 600_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

/**
 * The permit desk: classify a request (small; unsure when it says so), draft the permit with its fee, and
 * issue it — after a clerk approves when the fee is above $100. The same code in each module syntax.
 */
function factorySource(syntax: 'ts' | 'esm' | 'cjs'): string {
  const imports =
    syntax === 'cjs'
      ? "const fs = require('node:fs');\nconst { defineAction, defineFactory, defineJobType, defineStation, z } = require('conveyor');"
      : "import fs from 'node:fs';\nimport { defineAction, defineFactory, defineJobType, defineStation, z } from 'conveyor';";
  const typed = syntax === 'ts' ? ': number' : '';
  const body = `
const kinds = ['parking', 'event', 'other'];
const request = z.object({ text: z.string().min(1) });
const classified = z.object({ kind: z.enum(['parking', 'event', 'other']), confidence: z.number().min(0).max(1) });

const classifyRequest = defineStation({
  name: 'classify-request',
  description: 'Says what kind of permit a resident asks for.',
  input: request,
  output: classified,
  defaultTier: 'small',
  confidenceThreshold: 0.7,
  confidence: { from: 'field', field: 'confidence' },
  local: (input, context) => {
    const kind = /park/i.test(input.text) ? 'parking' : /party|event|festival/i.test(input.text) ? 'event' : 'other';
    const sure${typed} = context.model.tier === 'small' && /unsure/i.test(input.text) ? 0.3 : 0.95;
    return { output: { kind, confidence: sure } };
  },
  prompt: (input) => ({ system: 'Answer as JSON: kind (' + kinds.join('|') + ') and your confidence in [0,1].', user: input.text }),
});

const draftPermit = defineStation({
  name: 'draft-permit',
  description: 'Drafts the permit: a title and the fee.',
  input: z.object({ text: z.string().min(1), kind: z.enum(['parking', 'event', 'other']) }),
  output: z.object({ title: z.string().min(1), feeUsd: z.number().nonnegative() }),
  defaultTier: 'small',
  confidenceThreshold: 0.5,
  confidence: { from: 'model', otherwise: 0.9 },
  local: (input) => ({ output: { title: input.kind + ' permit: ' + input.text.slice(0, 40), feeUsd: input.kind === 'event' ? 250 : 40 } }),
  prompt: (input) => ({ system: 'Draft a ' + input.kind + ' permit as JSON: title, feeUsd.', user: input.text }),
});

const issuePermit = defineAction({
  name: 'issue-permit',
  description: 'Issues the permit.',
  proposal: z.object({ kind: z.enum(['parking', 'event', 'other']), title: z.string(), feeUsd: z.number() }),
  sensitivity: (permit) => (permit.feeUsd > 100 ? 'a fee of $' + permit.feeUsd + ': a clerk approves it first' : undefined),
  execute: async (permit, context) => {
    fs.appendFileSync(process.env.PERMITS_FILE ?? 'permits.jsonl', JSON.stringify({ key: context.idempotencyKey, kind: permit.kind, approvedBy: context.approvedBy }) + '\\n');
    return { permitId: 'P-' + context.jobId };
  },
});

const permitRequest = defineJobType({
  name: 'permit-request',
  description: 'classify → draft → issue, after a clerk approves a fee above $100',
  input: request,
  recipe: {
    steps: [
      { id: 'kind', station: 'classify-request', inputs: { text: '$job.text' } },
      { id: 'draft', station: 'draft-permit', inputs: { text: '$job.text', kind: '$steps.kind.kind' } },
      { id: 'issue', action: 'issue-permit', proposal: { kind: '$steps.kind.kind', title: '$steps.draft.title', feeUsd: '$steps.draft.feeUsd' } },
    ],
  },
  policy: { budgetUsd: 0.05, approval: { reviewers: ['clerk'], timeoutMs: 600000, onTimeout: 'reject' } },
});

${syntax === 'cjs' ? 'module.exports =' : 'export default'} defineFactory({ name: 'permit-desk', version: '1.0.0', stations: [classifyRequest, draftPermit], actions: [issuePermit], jobTypes: [permitRequest] });
`;
  return `${imports}\n${body}`;
}

/** A client script of the project's own: starts one job with the installed client and prints its result. */
function clientSource(syntax: 'ts' | 'esm' | 'cjs', factoryFile: string): string {
  const imports =
    syntax === 'cjs'
      ? `const { ConveyorClient } = require('conveyor');\nconst factory = require('./${factoryFile}');`
      : `import { ConveyorClient${syntax === 'ts' ? ', type JobResult' : ''} } from 'conveyor';\nimport factory from './${factoryFile}';`;
  return `${imports}
async function main() {
  const [id, text] = process.argv.slice(2);
  const client = await ConveyorClient.connect({ factory });
  try {
    await client.startJob({ id, type: 'permit-request', input: { text } });
    const result${syntax === 'ts' ? ': JobResult' : ''} = await client.getResult(id);
    console.log(JSON.stringify(result));
  } finally {
    await client.close();
  }
}
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;
}

/** The installed `conveyor worker --factory <module>` in `cwd`, until the suite ends; resolves once it serves. */
async function startInstalledWorker(cwd: string, env: NodeJS.ProcessEnv, factoryModule: string, readyLine: string): Promise<void> {
  const worker = await startWorkerProcess(installedCli(), ['worker', '--factory', factoryModule], { cwd, env, readyLine });
  cleanups.push(() => worker.stop());
}

const installedCli = () => path.join(scratch, 'node_modules', 'conveyor', 'bin', 'conveyor.js');

/** The installed `conveyor` command run in `cwd`, and `conveyor status <job> --json` read with it. */
function installedConveyor(cwd: () => string, env: () => NodeJS.ProcessEnv) {
  const run = (args: string[]) => runProcess(process.execPath, [installedCli(), ...args], { cwd: cwd(), env: env(), timeoutMs: 90_000 });
  const status = async <T>(jobId: string): Promise<T> => {
    const shown = await run(['status', jobId, '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    return JSON.parse(shown.stdout) as T;
  };
  return { run, status };
}

/** An example folder copied beside the installed package (as a team would have it: nothing else), without its outputs. */
function copyExample(name: string, outputFile: string): string {
  const dir = path.join(scratch, name);
  fs.cpSync(path.join(repoRoot, 'examples', name), dir, { recursive: true, filter: (source) => !source.includes('node_modules') && !source.endsWith(outputFile) });
  return dir;
}

/** The example's demo jobs file with every job id prefixed by `run` (ids are workflow ids: unique per run). */
function prefixedJobsFile(dir: string, source: string, run: string): { file: string; ids: string[] } {
  const jobs = fs.readFileSync(path.join(dir, source), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { id: string });
  const file = path.join(dir, `${run}.jsonl`);
  fs.writeFileSync(file, jobs.map((job) => JSON.stringify({ ...job, id: `${run}-${job.id}` })).join('\n'));
  return { file, ids: jobs.map((job) => `${run}-${job.id}`) };
}

/**
 * One job of an example on a worker whose every tier is a local server speaking the OpenAI wire protocol
 * (OPENAI_BASE_URL, no code change): its ledger once it completed, and the requests the server saw.
 */
async function runOnEndpoint(
  dir: string,
  extraEnv: NodeJS.ProcessEnv,
  script: (request: RecordedRequest) => FakeAnswer,
  job: { type: string; input: unknown },
): Promise<{ jobId: string; ledger: { stepId: string; tier: string; outcome: string; modelId: string }[]; requests: number }> {
  const fake = await startFakeOpenAI(script);
  cleanups.push(() => fake.close());
  const online = testSettings(uniqueId('example-online'));
  const env = cliEnvironment(online, { ...extraEnv, CONVEYOR_FACTORY: path.join(dir, 'factory.ts'), OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: 'test-key-not-secret', CONVEYOR_CACHE: 'off' });
  await startInstalledWorker(dir, env, './factory.ts', `task queue "${online.taskQueue}"`);
  const jobId = uniqueId('online');
  const jobsFile = path.join(dir, `${jobId}.jsonl`);
  fs.writeFileSync(jobsFile, `${JSON.stringify({ id: jobId, ...job })}\n`);
  const cli = installedConveyor(() => dir, () => env);
  expect((await cli.run(['run', jobsFile, '--json'])).code).toBe(0);
  const done = await eventually(async () => {
    const shown = await cli.status<{ status: string; result?: { ledger: { stepId: string; tier: string; outcome: string; modelId: string }[] } }>(jobId);
    return shown.status === 'completed' ? shown.result! : undefined;
  }, 60_000);
  return { jobId, ledger: done.ledger, requests: fake.requests.length };
}

interface PermitLine {
  key: string;
  kind: string;
  approvedBy: string[];
}

const variants = [
  { syntax: 'ts' as const, packageType: 'module', factory: 'factory.ts', client: 'client.ts' },
  { syntax: 'esm' as const, packageType: 'module', factory: 'factory.js', client: 'client.js' },
  { syntax: 'cjs' as const, packageType: 'commonjs', factory: 'factory.js', client: 'client.js' },
];

describe.each(variants)('a $syntax project that installed Conveyor from npm pack', ({ syntax, packageType, factory, client }) => {
  const settings = testSettings(uniqueId(`package-${syntax}`));
  let project: string;
  let env: NodeJS.ProcessEnv;
  let permitsFile: string;
  const installed = installedConveyor(() => project, () => env);
  const conveyor = installed.run;
  const permits = () => jsonLinesIn<PermitLine>(permitsFile);

  beforeAll(async () => {
    project = path.join(scratch, syntax);
    fs.mkdirSync(project, { recursive: true });
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: `permit-desk-${syntax}`, private: true, type: packageType }));
    fs.writeFileSync(path.join(project, factory), factorySource(syntax));
    fs.writeFileSync(path.join(project, client), clientSource(syntax, syntax === 'ts' ? 'factory.ts' : factory));
    permitsFile = path.join(project, 'permits.jsonl');
    env = cliEnvironment(settings, { PERMITS_FILE: permitsFile, CONVEYOR_FACTORY: path.join(project, factory) });

    await startInstalledWorker(project, env, `./${factory}`, 'conveyor worker: factory permit-desk 1.0.0');
  }, 180_000);

  if (syntax === 'ts') {
    it('type-checks against the installed declarations', async () => {
      fs.writeFileSync(
        path.join(project, 'tsconfig.json'),
        JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, allowImportingTsExtensions: true, skipLibCheck: true, types: ['node'] }, files: [factory, client] }),
      );
      const checked = await runProcess(process.execPath, [tscCli, '-p', project], { cwd: project, timeoutMs: 120_000 });
      expect(checked.code, checked.stdout + checked.stderr).toBe(0);
    }, 150_000);

    it('says where the benchmarks are: they ship with the repository, not the package', async () => {
      const bench = await conveyor(['bench', '--quick']);
      expect(bench.code).toBe(2);
      expect(bench.stderr).toMatch(/the benchmarks ship with the repository, not the package: run `npm run bench` in a checkout of Conveyor/);
    });
  }

  it('a job through its own client: planned, routed to the small tier, acted on once without approval', async () => {
    const jobId = uniqueId(`permit-${syntax}-parking`);
    const ran = await runProcess(process.execPath, [client, jobId, 'a parking permit for my street'], { cwd: project, env, timeoutMs: 90_000 });
    expect(ran.code, ran.stderr).toBe(0);
    const result = JSON.parse(ran.stdout) as { status: string; plan: { strategy: string }; ledger: { stepId: string; tier: string; outcome: string }[]; actions: { firstExecution: boolean; receipt: unknown }[]; approvals: unknown[] };
    expect(result.status).toBe('completed');
    expect(result.plan.strategy).toBe('recipe');
    expect(result.ledger.map((entry) => [entry.stepId, entry.tier, entry.outcome])).toEqual([
      ['kind', 'small', 'accepted'],
      ['draft', 'small', 'accepted'],
    ]);
    expect(result.approvals).toEqual([]);
    expect(result.actions).toEqual([expect.objectContaining({ firstExecution: true, receipt: { permitId: `P-${jobId}` } })]);
    expect(permits().filter((line) => line.key === `${jobId}:issue`)).toEqual([{ key: `${jobId}:issue`, kind: 'parking', approvedBy: [] }]);
  }, 120_000);

  it('a job through the installed `conveyor run`: escalates on low confidence, waits for a clerk, acts once after `conveyor approve`', async () => {
    const jobId = uniqueId(`permit-${syntax}-event`);
    const jobsFile = path.join(project, `${jobId}.jsonl`);
    fs.writeFileSync(jobsFile, `${JSON.stringify({ id: jobId, type: 'permit-request', input: { text: 'unsure: a street party event on Saturday' } })}\n`);
    const started = await conveyor(['run', jobsFile, '--json']);
    expect(started.code, started.stderr).toBe(0);

    const waiting = await eventually(async () => {
      const pending = await conveyor(['pending', '--json']);
      const entries = pending.code === 0 ? (JSON.parse(pending.stdout) as { jobId: string; evidence: { reason: string } }[]) : [];
      return entries.find((entry) => entry.jobId === jobId);
    }, 60_000);
    expect(waiting.evidence.reason).toBe('a fee of $250: a clerk approves it first');
    expect(permits().filter((line) => line.key === `${jobId}:issue`)).toEqual([]);

    const refused = await conveyor(['approve', jobId, '--by', 'mallory']);
    expect(refused.code).toBe(2);
    const approved = await conveyor(['approve', jobId, '--by', 'clerk', '--json']);
    expect(approved.code, approved.stderr).toBe(0);

    const status = await eventually(async () => {
      const view = await installed.status<{ status: string; result?: { ledger: { stepId: string; tier: string; outcome: string }[]; escalations: number; topTier: string } }>(jobId);
      return view.status === 'completed' ? view : undefined;
    }, 60_000);
    expect(status.result!.ledger.filter((entry) => entry.stepId === 'kind').map((entry) => [entry.tier, entry.outcome])).toEqual([
      ['small', 'escalated'],
      ['medium', 'accepted'],
    ]);
    expect(status.result!.escalations).toBe(1);
    expect(permits().filter((line) => line.key === `${jobId}:issue`)).toEqual([{ key: `${jobId}:issue`, kind: 'event', approvedBy: ['clerk'] }]);
  }, 180_000);
});

interface StatusView {
  status: string;
  pendingApprovals: { approvalId: string; evidence: { reason: string } }[];
  result?: { ledger: { stepId: string; tier: string; outcome: string }[]; actions: { firstExecution: boolean }[] };
}

interface TicketLine {
  key: string;
  department: string;
  urgency: string;
  approvedBy: string[];
}

describe('examples/city-hotline on the installed package', () => {
  const settings = testSettings(uniqueId('example-hotline'));
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let ticketsFile: string;
  let hotlineEnv: NodeJS.ProcessEnv;
  let receiverOutput: () => string;
  const ticketsSecret = `whsec_${randomBytes(24).toString('base64')}`;
  const installed = installedConveyor(() => dir, () => env);
  const conveyor = installed.run;
  const tickets = () => jsonLinesIn<TicketLine>(ticketsFile);
  const status = (jobId: string) => installed.status<StatusView>(jobId);
  const settled = (jobId: string, wanted: string) => eventually(async () => ((await status(jobId)).status === wanted ? status(jobId) : undefined), 60_000);
  const waiting = (jobId: string) => eventually(async () => (await status(jobId)).pendingApprovals[0], 60_000);

  beforeAll(async () => {
    // The example as a team would have it: its own folder beside the installed package, nothing else.
    dir = copyExample('city-hotline', 'tickets.jsonl');
    ticketsFile = path.join(dir, 'tickets.jsonl');
    // The ticketing system: the example's receiver, which verifies each webhook and files its ticket once.
    const receiver = await startWorkerProcess('receiver.ts', [], { cwd: dir, env: { ...process.env, HOTLINE_TICKETS_SECRET: ticketsSecret, HOTLINE_TICKETS_FILE: ticketsFile, HOTLINE_RECEIVER_PORT: '0' }, readyLine: 'hotline receiver: listening on ' });
    cleanups.push(() => receiver.stop());
    receiverOutput = () => receiver.output();
    const ticketsUrl = /listening on (\S+)/.exec(receiver.output())![1]!;
    hotlineEnv = { HOTLINE_TICKETS_URL: ticketsUrl, HOTLINE_TICKETS_SECRET: ticketsSecret };
    env = cliEnvironment(settings, { ...hotlineEnv, CONVEYOR_FACTORY: path.join(dir, 'factory.ts') });
    await startInstalledWorker(dir, env, './factory.ts', 'conveyor worker: factory city-hotline 1.0.0');
  }, 180_000);

  it('runs its demo calls offline: files the clear one, a dispatcher approves the urgent one by a plain Temporal signal and the unsure one by conveyor approve, a person rejects the unclear one', async () => {
    const run = uniqueId('hl');
    const calls = prefixedJobsFile(dir, 'data/calls.jsonl', run);
    const [clear, urgent, unsure, unclear] = calls.ids as [string, string, string, string];
    const started = await conveyor(['run', calls.file, '--json']);
    expect(started.code, started.stderr).toBe(0);

    // The clear call: the small classifier is unsure, the medium one is not; details on medium, the note on large; filed at once.
    const filed = await settled(clear, 'completed');
    expect(filed.result!.ledger.map((entry) => [entry.stepId, entry.tier, entry.outcome]).sort()).toEqual(
      [
        ['classify', 'small', 'escalated'],
        ['classify', 'medium', 'accepted'],
        ['details', 'medium', 'accepted'],
        ['note', 'large', 'accepted'],
      ].sort(),
    );
    expect(tickets().filter((line) => line.key === `${clear}:file`)).toEqual([expect.objectContaining({ department: 'roads', urgency: 'low', approvedBy: [] })]);

    // The urgent call waits for a dispatcher, who approves it with the Temporal CLI alone.
    const urgentWait = await waiting(urgent);
    expect(urgentWait.evidence.reason).toBe('a high-urgency water call: a dispatcher checks it before the crew is sent');
    expect(tickets().filter((line) => line.key === `${urgent}:file`)).toEqual([]);
    const temporal = findTemporalCli()!.path;
    const connection = ['--address', settings.address!, '--namespace', settings.namespace];
    const signal = await runProcess(temporal, ['workflow', 'signal', ...connection, '--workflow-id', urgent, '--name', 'decide', '--input', JSON.stringify({ approvalId: urgentWait.approvalId, decision: 'approve', reviewer: 'dispatcher' })]);
    expect(signal.code, signal.stderr).toBe(0);
    await settled(urgent, 'completed');
    expect(tickets().filter((line) => line.key === `${urgent}:file`)).toEqual([expect.objectContaining({ department: 'water', urgency: 'high', approvedBy: ['dispatcher'] })]);

    // The unsure call: the classifier's confidence is under the action's setting, so a dispatcher checks the department.
    const unsureWait = await waiting(unsure);
    expect(unsureWait.evidence.reason).toMatch(/^the call was classified with confidence 0\.\d\d, below 0\.75: a dispatcher checks the department$/);
    const approved = await conveyor(['approve', unsure, '--by', 'supervisor', '--json']);
    expect(approved.code, approved.stderr).toBe(0);
    await settled(unsure, 'completed');
    expect(tickets().filter((line) => line.key === `${unsure}:file`)).toEqual([expect.objectContaining({ department: 'sanitation', approvedBy: ['supervisor'] })]);

    // The unclear call: no tier is sure of it, so a person reviews the classification; rejected, nothing is filed.
    const unclearWait = await waiting(unclear);
    expect(unclearWait.evidence.reason).toMatch(/needs human review/);
    const rejected = await conveyor(['reject', unclear, '--by', 'dispatcher', '--reason', 'not enough to go on', '--json']);
    expect(rejected.code, rejected.stderr).toBe(0);
    await settled(unclear, 'rejected');
    expect(tickets().filter((line) => line.key === `${unclear}:file`)).toEqual([]);
    // Each approved or clear call was filed exactly once, by the receiver, whose id is the action's receipt.
    expect(tickets().filter((line) => line.key.startsWith(run)).map((line) => line.key).sort()).toEqual([`${clear}:file`, `${unsure}:file`, `${urgent}:file`].sort());
    expect((await status(urgent)).result!.actions).toEqual([expect.objectContaining({ receipt: { status: 200, id: `HL-${urgent}` } })]);
    expect(receiverOutput()).not.toContain(ticketsSecret);
  }, 240_000);

  it('runs on an OpenAI-protocol endpoint when OPENAI_BASE_URL is set, with no code change', async () => {
    // The endpoint is a local server that speaks the wire protocol, answering by the station's system prompt.
    const endpoint = (request: RecordedRequest): FakeAnswer => {
      const { system } = promptsOf(request);
      if (system.startsWith('You triage calls')) return answers.json({ category: 'roads-low', department: 'roads', urgency: 'low', confidence: 0.93 });
      if (system.startsWith('From a call to the city')) return answers.json({ location: 'Maple Avenue', incident: 'a pothole outside the bakery' });
      if (system.startsWith('Write a dispatch note')) return answers.json({ title: 'Pothole on Maple Avenue', body: 'A pothole outside the bakery; low priority.' });
      return answers.error(400, `no answer for: ${system.slice(0, 60)}`);
    };
    const { jobId, ledger, requests } = await runOnEndpoint(dir, hotlineEnv, endpoint, {
      type: 'hotline-call',
      input: { transcript: 'There is a pothole on Maple Avenue outside the bakery.' },
    });
    // classify and details read only the job's input, so they run side by side: the ledger is in the order calls finished.
    expect(ledger.map((entry) => [entry.stepId, entry.tier, entry.outcome]).sort()).toEqual([
      ['classify', 'small', 'accepted'],
      ['details', 'medium', 'accepted'],
      ['note', 'large', 'accepted'],
    ]);
    // Every call went to the endpoint: none to a local model.
    expect(ledger.every((entry) => entry.modelId.startsWith('openai'))).toBe(true);
    expect(requests).toBe(ledger.length);
    expect(tickets().filter((line) => line.key === `${jobId}:file`)).toEqual([expect.objectContaining({ department: 'roads', urgency: 'low', approvedBy: [] })]);
  }, 240_000);
});

describe('the README tutorial, run as written', () => {
  const settings = testSettings(uniqueId('tutorial'));

  it('installs the package, writes the factory and the client, starts a worker, runs two claims and approves the large one, then runs a claim through a workflow and worker of its own', async () => {
    const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    const start = readme.indexOf('## Build your own factory (tutorial)');
    expect(start).toBeGreaterThan(0);
    const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
    const blocks = [...section.matchAll(/```(\w+)([^\n]*)\n([\s\S]*?)```/g)].map(([, language, info, body]) => ({ language: language!, info: info!.trim(), body: body! }));
    expect(blocks.map((block) => `${block.language} ${block.info}`)).toEqual([
      'sh tutorial',
      'ts file=factory.ts',
      'sh tutorial',
      'sh tutorial-worker',
      'ts file=start.ts',
      'sh tutorial',
      'sh tutorial',
      'sh tutorial',
      'ts file=workflows.ts',
      'ts file=my-worker.ts',
      'ts file=start-mine.ts',
      'sh tutorial-worker',
      'sh tutorial',
    ]);
    // What each long-running command prints once it serves.
    const readyLines: Record<string, string> = { 'npx conveyor worker --factory ./factory.ts': 'conveyor worker: factory expenses 1.0.0', 'node my-worker.ts': 'my worker is running' };

    // The reader's folder, with the tarball beside it as the first command expects.
    const project = path.join(scratch, 'tutorial');
    fs.mkdirSync(project, { recursive: true });
    const env = cliEnvironment(settings);
    const shell = async (line: string) => {
      const ran = await runProcess('bash', ['-c', line], { cwd: project, env, timeoutMs: 300_000 });
      expect(ran.code, `${line}\n${ran.stdout}\n${ran.stderr}`).toBe(0);
      return ran.stdout;
    };
    const printed: string[] = [];
    for (const block of blocks) {
      const file = /^file=(\S+)$/.exec(block.info)?.[1];
      if (file) fs.writeFileSync(path.join(project, file), block.body);
      else if (block.info === 'tutorial-worker') {
        const command = block.body.trim();
        expect(readyLines[command], command).toBeDefined();
        // `npx conveyor …` runs the installed bin; `node file.ts` runs the file on this Node 24.
        const [bin, ...args] = command.startsWith('npx conveyor ') ? [path.join(project, 'node_modules', 'conveyor', 'bin', 'conveyor.js'), ...command.slice('npx conveyor '.length).split(' ')] : command.slice('node '.length).split(' ');
        const worker = await startWorkerProcess(path.resolve(project, bin!), args, { cwd: project, env, readyLine: readyLines[command]! });
        cleanups.push(() => worker.stop());
      } else {
        let approved: string | undefined;
        for (const line of block.body.split('\n').map((text) => text.trim()).filter(Boolean)) {
          // `conveyor approve` settles the decision; the payment runs right after it.
          if (line.startsWith('cat payments.jsonl') && approved) {
            const key = `${approved}:pay`;
            await eventually(async () => (fs.readFileSync(path.join(project, 'payments.jsonl'), 'utf8').includes(key) ? true : undefined), 60_000);
          }
          approved = /conveyor approve (\S+)/.exec(line)?.[1] ?? approved;
          printed.push(await shell(line));
        }
      }
    }

    expect(printed.join('\n')).toMatch(/^completed category: local-small \(accepted\), policy: local-medium \(accepted\)$/m);
    const payments = fs.readFileSync(path.join(project, 'payments.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { key: string; approvedBy: string[]; amountUsd: number });
    expect(payments).toEqual([
      expect.objectContaining({ key: 'claim-1:pay', amountUsd: 80, approvedBy: [] }),
      expect.objectContaining({ key: 'claim-2:pay', amountUsd: 1200, approvedBy: ['manager'] }),
      // From the team's own workflow: paid only after its own check, which a manager approved; the $45
      // payment itself is not sensitive, so the action names no approver of its own.
      expect.objectContaining({ key: 'my-claim-1:pay', amountUsd: 45, category: 'meals', note: 'paid from my workflow', approvedBy: [] }),
    ]);
    expect(printed.join('\n')).toMatch(/a payment of \$1200: a manager approves it/);
    // `conveyor approve` decided the check of the team's own workflow, as it does a job's approval.
    expect(printed.join('\n')).toMatch(/my-claim-1/);
  }, 420_000);
});

interface EpisodeView {
  status: string;
  pendingApprovals: { approvalId: string; evidence: { reason: string } }[];
  result?: {
    ledger: { stepId: string; tier: string; outcome: string }[];
    outputs: { moments: { moments: { quote: string }[] }; post: { clips: unknown[] } };
    decisions: { stepId: string; kind: string; reason: string }[];
    actions: unknown[];
  };
}

describe('examples/podcast-clips on the installed package', () => {
  const settings = testSettings(uniqueId('example-podcast'));
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let postsFile: string;
  const installed = installedConveyor(() => dir, () => env);
  const conveyor = installed.run;
  const view = (jobId: string) => installed.status<EpisodeView>(jobId);
  const posts = () => jsonLinesIn<{ key: string; clips: number; approvedBy: string[] }>(postsFile);

  beforeAll(async () => {
    dir = copyExample('podcast-clips', 'posts.jsonl');
    postsFile = path.join(dir, 'posts.jsonl');
    env = cliEnvironment(settings, { PODCAST_POSTS_FILE: postsFile, CONVEYOR_FACTORY: path.join(dir, 'factory.ts') });
    await startInstalledWorker(dir, env, './factory.ts', 'conveyor worker: factory podcast-clips 1.0.0');
  }, 180_000);

  it('runs a season as one batch: each moment rated on its own, unsure ratings escalated, empty episodes skipped, busy ones published after a producer approves', async () => {
    const run = uniqueId('season');
    const season = prefixedJobsFile(dir, 'data/episodes.jsonl', run);
    const started = await conveyor(['run', season.file, '--batch', '--batch-id', run, '--json']);
    expect(started.code, started.stderr).toBe(0);
    const ids = season.ids;

    // Every episode ends or waits for a producer.
    const first = await eventually(async () => {
      const views = await Promise.all(ids.map(view));
      return views.every((episode) => episode.status === 'completed' || episode.pendingApprovals.length > 0) ? views : undefined;
    }, 120_000);
    const waiting = ids.filter((_, index) => first[index]!.status !== 'completed');
    expect(waiting.length).toBeGreaterThan(0);
    for (const jobId of waiting) {
      const [pending] = first[ids.indexOf(jobId)]!.pendingApprovals;
      expect(pending!.evidence.reason).toMatch(/^\d+ clips, more than 2: a producer picks what goes out$/);
      const approved = await conveyor(['approve', jobId, '--by', 'producer', '--json']);
      expect(approved.code, approved.stderr).toBe(0);
    }
    const done = await eventually(async () => {
      const views = await Promise.all(ids.map(view));
      return views.every((episode) => episode.status === 'completed') ? views : undefined;
    }, 120_000);

    let skipped = 0;
    let escalated = 0;
    for (const [index, episode] of done.entries()) {
      const { ledger, outputs, decisions } = episode.result!;
      const moments = outputs.moments.moments;
      // One rating per moment, each its own step of the fan-out; a question escalates from the small tier.
      for (const [item, found] of moments.entries()) {
        const calls = ledger.filter((entry) => entry.stepId === `ratings[${item}]`).map((entry) => [entry.tier, entry.outcome]);
        expect(calls).toEqual(found.quote.endsWith('?') ? [['small', 'escalated'], ['medium', 'accepted']] : [['small', 'accepted']]);
        if (found.quote.endsWith('?')) escalated++;
      }
      const clips = outputs.post.clips.length;
      const published = posts().filter((line) => line.key === `${ids[index]}:publish`);
      if (clips === 0) {
        skipped++;
        expect(published).toEqual([]);
        expect(decisions).toContainEqual(expect.objectContaining({ stepId: 'publish', kind: 'action', reason: 'no moment of this episode is worth a clip: nothing to publish' }));
      } else {
        expect(published).toEqual([{ key: `${ids[index]}:publish`, title: expect.stringContaining(`${clips} clip`) as unknown, clips, approvedBy: clips > 2 ? ['producer'] : [] }]);
      }
    }
    expect(skipped).toBeGreaterThan(0);
    expect(escalated).toBeGreaterThan(0);
  }, 300_000);

  it('runs on an OpenAI-protocol endpoint when OPENAI_BASE_URL is set, with no code change', async () => {
    const endpoint = (request: RecordedRequest): FakeAnswer => {
      const { system, user } = promptsOf(request);
      if (system.startsWith('List up to eight moments')) return answers.json({ moments: [{ startSeconds: 62, quote: 'The best ideas come after you stop looking.' }, { startSeconds: 300, quote: 'Thanks for listening.' }] });
      if (system.startsWith('Would this moment')) return answers.json({ verdict: /best/.test(user) ? 'clip' : 'skip', confidence: 0.92 });
      if (system.startsWith('Write a post')) return answers.json({ title: 'One clip from the episode', summary: 'The best ideas come after you stop looking.', clips: [{ startSeconds: 62, quote: 'The best ideas come after you stop looking.' }] });
      return answers.error(400, `no answer for: ${system.slice(0, 60)}`);
    };
    const { jobId, ledger, requests } = await runOnEndpoint(dir, { PODCAST_POSTS_FILE: postsFile }, endpoint, {
      type: 'clip-episode',
      input: { show: 'The Long Commute', episode: 'Episode 7', transcript: '[01:02] The best ideas come after you stop looking.' },
    });
    expect(ledger.map((entry) => [entry.stepId, entry.tier]).sort()).toEqual([['moments', 'large'], ['post', 'medium'], ['ratings[0]', 'small'], ['ratings[1]', 'small']].sort());
    expect(ledger.every((entry) => entry.modelId.startsWith('openai'))).toBe(true);
    expect(requests).toBe(ledger.length);
    expect(posts().filter((line) => line.key === `${jobId}:publish`)).toEqual([expect.objectContaining({ clips: 1, approvedBy: [] })]);
  }, 240_000);
});
