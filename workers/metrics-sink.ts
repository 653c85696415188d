/**
 * The worker's side of the `conveyorMetrics` sink (workflows/metrics.ts): each value goes to the SDK
 * runtime's metric meter, so it is served on the worker's Prometheus endpoint beside the SDK's own
 * metrics. Sinks are not called on replay, but they are called again when a workflow task fails or times
 * out and runs again (the SDK says so), on this worker or another. So every value carries a key unique in
 * its run, and a (workflow, run, key) already counted is dropped: by this worker from memory, and — with a
 * Redis the workers share (CONVEYOR_METRICS_REDIS_URL) — by the whole fleet, through `SET NX`.
 *
 * The first value of a key stands for every attempt because attempts agree: a workflow task run again
 * runs its local model calls again, and the gateway settles each with its own first answer and cost
 * (ModelCall.settles), so the ledger the accepted attempt records is what the first attempt sent. A call
 * the cache cannot settle (cache off, or a sample at temperature > 0) is asked again and may differ: then
 * the metrics keep the first attempt's value and the ledger the last one's.
 */
import { Runtime, type InjectedSinks } from '@temporalio/worker';
import type { SharedRedis } from '../platform/redis';
import type { ConveyorMetricSinks, MetricValue } from '../workflows/metrics';

/** How many recent (workflow, run, key) triples a worker remembers to drop repeats. */
const REMEMBERED_KEYS = 200_000;
/** How long the fleet remembers a counted key (a task retried later than this would count again). */
const SHARED_KEY_TTL_SECONDS = 7 * 24 * 60 * 60;

export interface ConveyorSinkOptions {
  /** A Redis every worker of the fleet uses: values are counted once across workers, not only per worker. */
  dedupe?: SharedRedis;
  /** Told when the shared dedupe is unreachable (the value is then counted, perhaps twice). */
  log?: (message: string) => void;
}

export function conveyorSinks(options: ConveyorSinkOptions = {}): InjectedSinks<ConveyorMetricSinks> {
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
  const emit = (values: MetricValue[]) => {
    for (const value of values) {
      const target = instrument(value);
      if (value.kind === 'counter') target.add!(value.value, value.tags);
      else target.record!(value.value, value.tags);
    }
  };
  /** Whether this is the fleet's first sight of the key (true without a shared store, or when it is down). */
  const firstInFleet = async (id: string): Promise<boolean> => {
    if (!options.dedupe) return true;
    try {
      const client = await options.dedupe.ready();
      return (await client.set(`conveyor:metric:${id}`, '1', { NX: true, EX: SHARED_KEY_TTL_SECONDS })) === 'OK';
    } catch (error) {
      options.log?.(`conveyor metrics: the shared dedupe store is unreachable (${error instanceof Error ? error.message : String(error)}); counting without it`);
      return true;
    }
  };
  return {
    conveyorMetrics: {
      record: {
        async fn(info, key, values) {
          const id = `${info.workflowId}/${info.runId}/${key}`;
          if (seen.has(id)) return;
          seen.add(id);
          if (seen.size > REMEMBERED_KEYS) seen.delete(seen.values().next().value!);
          if (await firstInFleet(id)) emit(values);
        },
        callDuringReplay: false,
      },
    },
  };
}
