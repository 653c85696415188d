/**
 * The raw Temporal baseline the factory is compared with: the smallest workflows that do the same
 * amount of Temporal work as a Conveyor job, with none of Conveyor's planning, routing, ledger or
 * search attributes. `rawStepsWorkflow` runs no-op activities in waves (the same dependency shape as a
 * support-ticket recipe), `rawBatchWorkflow` runs raw children with bounded concurrency the way
 * `batchWorkflow` does, and `rawWaitingWorkflow` waits for a signal after its activities, for the memory comparison. It is
 * bundled on its own (see worker-process.ts) and imports nothing but the workflow SDK.
 */
import { condition, defineQuery, defineSignal, executeChild, proxyActivities, setHandler } from '@temporalio/workflow';

/** The raw activity: does nothing, so what is measured is Temporal's own cost of scheduling it. */
export const rawActivities = {
  async rawNoop(): Promise<void> {},
};

const { rawNoop } = proxyActivities<typeof rawActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3 },
});

/** Runs `waves[i]` no-op activities in parallel, wave after wave; returns how many ran. */
export async function rawStepsWorkflow(waves: number[]): Promise<number> {
  let activities = 0;
  for (const width of waves) {
    await Promise.all(Array.from({ length: width }, () => rawNoop()));
    activities += width;
  }
  return activities;
}

/** Starts `count` rawStepsWorkflow children, at most `concurrency` at a time; returns how many completed. */
export async function rawBatchWorkflow(request: { batchId: string; count: number; concurrency: number; waves: number[] }): Promise<number> {
  const inFlight = new Set<Promise<void>>();
  let completed = 0;
  for (let index = 0; index < request.count; index++) {
    while (inFlight.size >= request.concurrency) await Promise.race(inFlight);
    const child: Promise<void> = executeChild(rawStepsWorkflow, { workflowId: `${request.batchId}-${index}`, args: [request.waves] }).then(() => {
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
