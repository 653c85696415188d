/**
 * Replays every recorded history in test/fixtures/histories against today's workflow code, so a
 * nondeterministic change to a workflow fails CI, and checks that the histories cover the workflow
 * code: every workflow type, both branches of every `patched()` id, continue-as-new, approvals by
 * update and by signal, approval timeouts and escalations, a batch read from a claim check, every
 * outcome of a distill run.
 *
 * Record (or re-record) fixtures with
 * `CONVEYOR_RECORD_HISTORIES=1 npx vitest run test/factory.test.ts test/distill.test.ts test/learning-live.test.ts test/eval-schedule.test.ts test/patch-branches.test.ts`
 * (or one of those files, or one test with -t). The old branch of a patch is recorded by a worker that
 * leaves the patch inactive: see test/patch-branches.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, Worker, type InjectedSinks } from '@temporalio/worker';
import { installRuntimeLogging } from '../platform/logging';
import { bundleConveyorWorkflows, builtinWorkflowsPath } from '../workers/worker';
import * as workflowEntry from '../legacy/bundle';
import type { PatchProbeSinks } from './support/patch-probe';

const root = path.join(__dirname, '..');
const fixturesDir = path.join(__dirname, 'fixtures', 'histories');
const fixtures = fs.readdirSync(fixturesDir).filter((file) => file.endsWith('.json')).sort();

interface RawEvent {
  eventType: string;
  workflowExecutionStartedEventAttributes?: { workflowType: { name: string } };
  workflowExecutionSignaledEventAttributes?: { signalName: string };
  activityTaskScheduledEventAttributes?: { activityType?: { name?: string } };
  workflowExecutionUpdateAcceptedEventAttributes?: { acceptedRequest?: { input?: { name?: string } } };
  workflowExecutionCompletedEventAttributes?: { result?: { payloads?: { metadata?: Record<string, string>; data?: string }[] } };
  markerRecordedEventAttributes?: { markerName: string; details?: Record<string, { payloads?: { data?: string }[] }> };
}

const raw = new Map(fixtures.map((file) => [path.basename(file, '.json'), (JSON.parse(fs.readFileSync(path.join(fixturesDir, file), 'utf8')) as { events: RawEvent[] }).events]));
const histories = () => [...raw.keys()].map((workflowId) => ({ workflowId, history: historyFromJSON({ events: raw.get(workflowId) }) }));

async function replay(options: Parameters<typeof Worker.runReplayHistories>[0]): Promise<string[]> {
  const failures: string[] = [];
  let replayed = 0;
  for await (const result of Worker.runReplayHistories(options, histories())) {
    replayed++;
    if (result.error) failures.push(`${result.workflowId}: ${result.error.name}: ${result.error.message}`);
  }
  if (replayed !== fixtures.length) failures.push(`replayed ${replayed} of ${fixtures.length} fixtures`);
  return failures;
}

describe('recorded histories replay without nondeterminism', () => {
  it('has fixtures for the factory’s paths', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(10);
  });

  it('replays each of them', async () => {
    installRuntimeLogging();
    const workflowBundle = await bundleConveyorWorkflows();
    expect(await replay({ workflowBundle })).toEqual([]);
  });
});

// ---- what the code has: workflow types and patch ids, read from the source -------------------------

/** Workflow types: what the built-in bundle's entry exports (the engine's workflows and the frozen first job workflow). */
function workflowTypesInCode(): string[] {
  const entry = workflowEntry as Record<string, unknown>;
  return Object.keys(entry).filter((name) => typeof entry[name] === 'function').sort();
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(file) : entry.name.endsWith('.ts') ? [file] : [];
  });
}

/**
 * Every `patched(…)` id in the workflow code (workflows/ and domain/, which workflows import). The id
 * is a string literal or a const bound to one in the same file; anything else is reported, since this
 * check could not see it.
 */
function patchIdsInCode(): { ids: string[]; unreadable: string[] } {
  const ids = new Set<string>();
  const unreadable: string[] = [];
  for (const file of ['workflows', 'domain', 'legacy', 'factory'].flatMap((dir) => sourceFiles(path.join(root, dir)))) {
    const source = fs.readFileSync(file, 'utf8');
    for (const call of source.matchAll(/\bpatched\(\s*([^)]*?)\s*\)/g)) {
      const argument = call[1]!;
      const literal = /^(['"`])([^'"`]+)\1$/.exec(argument)?.[2];
      const constant = /^[A-Za-z_$][\w$]*$/.test(argument) ? new RegExp(`\\bconst\\s+${argument}\\s*=\\s*(['"\`])([^'"\`]+)\\1`).exec(source)?.[2] : undefined;
      const id = literal ?? constant;
      if (id) ids.add(id);
      else unreadable.push(`${path.relative(root, file)}: patched(${argument})`);
    }
  }
  return { ids: [...ids].sort(), unreadable };
}

// ---- what the fixtures have ---------------------------------------------------------------------------

function workflowTypeOf(events: RawEvent[]): string {
  return events[0]!.workflowExecutionStartedEventAttributes!.workflowType.name;
}

function patchMarkersOf(events: RawEvent[]): string[] {
  return events.flatMap((event) => {
    const marker = event.markerRecordedEventAttributes;
    if (marker?.markerName !== 'core_patch') return [];
    const data = marker.details?.['patch-data']?.payloads?.[0]?.data;
    return data ? [(JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as { id: string }).id] : [];
  });
}

interface RecordedJobResult {
  status?: string;
  escalations?: number;
  topTier?: string;
  ledger?: { outcome?: string }[];
  approvals?: { approvalId: string; via: string; decision: string; accepted: boolean }[];
}

/** A workflow's result as it returned it (plain JSON payloads: the suite runs without a codec). */
function resultOf(events: RawEvent[]): unknown {
  const payload = events.at(-1)?.workflowExecutionCompletedEventAttributes?.result?.payloads?.[0];
  if (!payload?.data || Buffer.from(payload.metadata?.encoding ?? '', 'base64').toString() !== 'json/plain') return undefined;
  return JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8')) as unknown;
}

function jobResultOf(events: RawEvent[]): RecordedJobResult | undefined {
  return workflowTypeOf(events) === 'jobWorkflow' ? (resultOf(events) as RecordedJobResult | undefined) : undefined;
}

/** The statuses the distill workflow can end with: each `this.result(settings, '<status>', …)` in its source. */
function distillOutcomesInCode(): string[] {
  const source = fs.readFileSync(path.join(root, 'workflows', 'distill.ts'), 'utf8');
  return [...new Set([...source.matchAll(/this\.result\(\s*settings,\s*'([^']+)'/g)].map((match) => match[1]!))].sort();
}

/** The paths through the workflow code that the history shows it took. */
const paths: Record<string, (events: RawEvent[]) => boolean> = {
  'continue-as-new (a run that ends by continuing as new)': (events) => events.at(-1)?.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW',
  'a scheduled evaluation that passes': (events) => workflowTypeOf(events) === 'scheduledEvaluationWorkflow' && events.at(-1)?.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED',
  'a scheduled evaluation that fails on a regression': (events) => workflowTypeOf(events) === 'scheduledEvaluationWorkflow' && events.at(-1)?.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED',
  'a batch read by reference (claim check)': (events) => events.some((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'readBatchJobs'),
  'a decision by update': (events) => events.some((event) => event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'decide'),
  'a decision by signal': (events) => events.some((event) => event.workflowExecutionSignaledEventAttributes?.signalName === 'decide'),
  'an approval timeout that escalates to the escalation reviewers': (events) => {
    const approvals = jobResultOf(events)?.approvals ?? [];
    return approvals.some((record, index) => record.via === 'timeout' && approvals.slice(index + 1).some((later) => later.approvalId === record.approvalId));
  },
  'an approval timeout that rejects the job': (events) => {
    const result = jobResultOf(events);
    return result?.status === 'rejected' && result.approvals?.filter((record) => record.accepted).at(-1)?.via === 'timeout';
  },
  'an escalation to a larger tier': (events) => {
    const result = jobResultOf(events);
    return (result?.escalations ?? 0) > 0 && (result?.ledger ?? []).some((entry) => entry.outcome === 'escalated') && result?.topTier !== 'human';
  },
  'an escalation to a person': (events) => jobResultOf(events)?.topTier === 'human',
};

describe('the recorded histories cover the workflow code', () => {
  /** patch id → branch taken (true: new, false: old) → fixtures that passed the patch point that way. */
  const branches = new Map<string, Map<boolean, Set<string>>>();
  let probeFailures: string[] = [];

  beforeAll(async () => {
    installRuntimeLogging();
    // The same workflow code, with patched() reporting each call (test/support/patch-probe.ts).
    const workflowBundle = await bundleWorkflowCode({
      workflowsPath: builtinWorkflowsPath,
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error } as never,
      webpackConfigHook: (config) => ({
        ...config,
        resolve: { ...config.resolve, alias: { ...(config.resolve?.alias as Record<string, string>), '@temporalio/workflow$': path.join(__dirname, 'support', 'patch-probe.ts') } },
      }),
    });
    const sinks: InjectedSinks<PatchProbeSinks> = {
      patchProbe: {
        seen: {
          fn: (info, patchId, active) => {
            const byBranch = branches.get(patchId) ?? new Map<boolean, Set<string>>();
            byBranch.set(active, (byBranch.get(active) ?? new Set()).add(info.workflowId));
            branches.set(patchId, byBranch);
          },
          callDuringReplay: true,
        },
      },
    };
    probeFailures = await replay({ workflowBundle, sinks });
  });

  it('replays with the probe as without it', () => {
    expect(probeFailures).toEqual([]);
  });

  it('has a fixture for every workflow type', () => {
    const types = workflowTypesInCode();
    expect(types).toContain('jobWorkflow');
    const recorded = new Set([...raw.values()].map(workflowTypeOf));
    const missing = types.filter((type) => !recorded.has(type)).map((type) => `workflow type ${type} has no fixture`);
    expect(missing).toEqual([]);
  });

  it('has fixtures for both branches of every patched() id', () => {
    const { ids, unreadable } = patchIdsInCode();
    expect(unreadable).toEqual([]);
    expect(ids.length).toBeGreaterThan(0);
    const recordHint = (id: string, branch: 'new' | 'old') =>
      branch === 'new'
        ? `record one with CONVEYOR_RECORD_HISTORIES=1 on a test whose job passes the patch point (a worker takes the new branch by default)`
        : `record one with CONVEYOR_RECORD_HISTORIES=1 on a test in test/patch-branches.test.ts whose worker has inactivePatches: ['${id}'] and whose job passes the patch point`;
    const missing = ids.flatMap((id) =>
      (['new', 'old'] as const)
        .filter((branch) => !(branches.get(id)?.get(branch === 'new')?.size ?? 0))
        .map((branch) => `patch '${id}': no fixture replays its ${branch} branch (patched('${id}') ${branch === 'new' ? 'true' : 'false'}); ${recordHint(id, branch)}`),
    );
    expect(missing).toEqual([]);
  });

  it('takes the new branch of a patch exactly where the history carries its marker', () => {
    const mismatches: string[] = [];
    for (const [id, byBranch] of branches) {
      for (const [active, names] of byBranch) {
        for (const name of names) {
          if (patchMarkersOf(raw.get(name)!).includes(id) !== active) mismatches.push(`${name}: patched('${id}') was ${active} but the marker is ${active ? 'absent' : 'present'}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('has a fixture for every outcome of the distill workflow', () => {
    const outcomes = distillOutcomesInCode();
    expect(outcomes).toContain('promoted');
    const recorded = new Set([...raw.values()].filter((events) => workflowTypeOf(events) === 'distillWorkflow').map((events) => (resultOf(events) as { status?: string } | undefined)?.status));
    expect(outcomes.filter((status) => !recorded.has(status)).map((status) => `no fixture of a distill run that ends ${status}`)).toEqual([]);
  });

  it('has fixtures for continue-as-new, claim checks, both evaluation outcomes, decisions by update and by signal, approval timeouts and escalations', () => {
    const missing = Object.entries(paths)
      .filter(([, took]) => ![...raw.values()].some(took))
      .map(([name]) => `no fixture for ${name}`);
    expect(missing).toEqual([]);
  });
});
