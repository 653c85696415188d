/**
 * Bundled in place of '@temporalio/workflow' by test/replay.test.ts's coverage check (and only there):
 * the SDK unchanged, except that each `patched(id)` call also reports which branch it took to the
 * replaying worker through a sink, so the check knows which fixtures pass each patch point, and how.
 */
import { patched as sdkPatched, proxySinks, type Sinks } from '@temporalio/workflow/lib/index';

export * from '@temporalio/workflow/lib/index';

export interface PatchProbeSinks extends Sinks {
  patchProbe: { seen(patchId: string, active: boolean): void };
}

const { patchProbe } = proxySinks<PatchProbeSinks>();

export function patched(patchId: string): boolean {
  const active = sdkPatched(patchId);
  patchProbe.seen(patchId, active);
  return active;
}
