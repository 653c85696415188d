/**
 * The raw Temporal baseline the factory is compared with: the smallest workflows that do the same
 * amount of Temporal work as a Conveyor job, with none of Conveyor's planning, routing, ledger or
 * search attributes. `rawStepsWorkflow` runs no-op activities (regular or local) or remote-like calls in waves (the same dependency shape as a
 * support-ticket recipe), `rawBatchWorkflow` runs raw children with bounded concurrency the way
 * `batchWorkflow` does, and `rawWaitingWorkflow` waits for a signal after its activities, for the memory comparison. It is
 * bundled on its own (see worker-process.ts) and imports nothing but the workflow SDK.
 */
import { condition, defineQuery, defineSignal, executeChild, proxyActivities, proxyLocalActivities, setHandler } from '@temporalio/workflow';

/**
 * The raw activities: `rawNoop` does nothing, so what is measured is Temporal's own cost of scheduling
 * it; `rawRemoteCall` makes one chat-completions request to the remote-like model server (the same
 * server and answer the factory's remote model gets), so the two pay the same wait.
 */
export const rawActivities = {
  async rawNoop(): Promise<void> {},
  async rawRemoteCall(url: string): Promise<number> {
    const response = await fetch(`${url.replace(/\/$/, '')}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'raw', messages: [{ role: 'user', content: 'raw benchmark call' }] }),
    });
    if (!response.ok) throw new Error(`remote-like model server answered HTTP ${response.status}`);
    return (await response.text()).length;
  },
};

const regular = proxyActivities<typeof rawActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3 },
});
const local = proxyLocalActivities<typeof rawActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3 },
});

/** How a raw workflow runs its steps: no-op regular activities, no-op local activities, or remote-like calls as regular activities. */
export type RawStepKind = 'regular' | 'local' | { remoteUrl: string };

function rawStep(kind: RawStepKind): Promise<unknown> {
  if (kind === 'regular') return regular.rawNoop();
  if (kind === 'local') return local.rawNoop();
  return regular.rawRemoteCall(kind.remoteUrl);
}

/** Runs `waves[i]` steps in parallel, wave after wave (regular no-op activities unless `kind` says otherwise); returns how many ran. */
export async function rawStepsWorkflow(waves: number[], kind: RawStepKind = 'regular'): Promise<number> {
  let activities = 0;
  for (const width of waves) {
    await Promise.all(Array.from({ length: width }, () => rawStep(kind)));
    activities += width;
  }
  return activities;
}

/** Starts `count` rawStepsWorkflow children, at most `concurrency` at a time; returns how many completed. */
export async function rawBatchWorkflow(request: { batchId: string; count: number; concurrency: number; waves: number[]; kind?: RawStepKind }): Promise<number> {
  const inFlight = new Set<Promise<void>>();
  let completed = 0;
  for (let index = 0; index < request.count; index++) {
    while (inFlight.size >= request.concurrency) await Promise.race(inFlight);
    const child: Promise<void> = executeChild(rawStepsWorkflow, { workflowId: `${request.batchId}-${index}`, args: [request.waves, request.kind ?? 'regular'] }).then(() => {
      completed++;
      inFlight.delete(child);
    });
    inFlight.add(child);
  }
  await Promise.all(inFlight);
  return completed;
}

export const releaseSignal = defineSignal('release');
/** True once the waiting workflow has run its activities and only waits. */
export const waitingQuery = defineQuery<boolean>('waiting');

/** Runs its waves of no-op activities, then waits until signalled: a workflow that sits in the worker's cache. */
export async function rawWaitingWorkflow(waves: number[]): Promise<void> {
  let released = false;
  let waiting = false;
  setHandler(releaseSignal, () => {
    released = true;
  });
  setHandler(waitingQuery, () => waiting);
  await rawStepsWorkflow(waves);
  waiting = true;
  await condition(() => released);
}
