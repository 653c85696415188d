/**
 * The worker's side of the `conveyorMetrics` sink (workflows/metrics.ts): each value goes to the SDK
 * runtime's metric meter, so it is served on the worker's Prometheus endpoint beside the SDK's own
 * metrics. A (workflow, run, key) already counted is dropped: a workflow task that ran twice on this
 * worker (its cache slot was taken mid-task, or it timed out and came back) counts once.
 */
import { Runtime, type InjectedSinks } from '@temporalio/worker';
import type { ConveyorMetricSinks, MetricValue } from '../workflows/metrics';

/** How many recent (workflow, run, key) triples a worker remembers to drop repeats. */
const REMEMBERED_KEYS = 200_000;

export function conveyorSinks(): InjectedSinks<ConveyorMetricSinks> {
  const seen = new Set<string>();
  const meter = () => Runtime.instance().metricMeter;
  const instruments = new Map<string, { add?(value: number, tags: Record<string, string>): void; record?(value: number, tags: Record<string, string>): void }>();
  const instrument = (value: MetricValue) => {
    const id = `${value.kind}:${value.name}:${value.valueType}`;
    let found = instruments.get(id);
    if (!found) {
      found = value.kind === 'counter' ? meter().createCounter(value.name, value.unit, value.description) : meter().createHistogram(value.name, value.valueType, value.unit, value.description);
      instruments.set(id, found);
    }
    return found;
  };
  return {
    conveyorMetrics: {
      record: {
        fn(info, key, values) {
          const id = `${info.workflowId}\u0000${info.runId}\u0000${key}`;
          if (seen.has(id)) return;
          seen.add(id);
          if (seen.size > REMEMBERED_KEYS) seen.delete(seen.values().next().value!);
          for (const value of values) {
            const target = instrument(value);
            if (value.kind === 'counter') target.add!(value.value, value.tags);
            else target.record!(value.value, value.tags);
          }
        },
        callDuringReplay: false,
      },
    },
  };
}
