/**
 * The SDK runtime, set once per process before any worker or connection is created: its log level
 * (WARN by default so CLI output stays readable; CONVEYOR_LOG_LEVEL=INFO or DEBUG for more) and, for a
 * worker with a metrics address, the Prometheus endpoint that serves the SDK's metrics and Conveyor's job
 * metrics (workflows/metrics.ts) on `http://<address>/metrics`.
 */
import { DefaultLogger, Runtime, type LogLevel, type TelemetryOptions } from '@temporalio/worker';
import { genAiBuckets } from '../domain/metrics';

const levels: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];
let installed = false;

/**
 * The telemetry options of a runtime whose Prometheus endpoint serves Conveyor's metrics: counters with
 * `_total`, the GenAI conventions' buckets. For a worker of your own: `Runtime.install({ telemetryOptions: conveyorTelemetry('0.0.0.0:9464') })`.
 */
export function conveyorTelemetry(metricsAddress: string): TelemetryOptions {
  return { metrics: { prometheus: { bindAddress: metricsAddress, countersTotalSuffix: true, useSecondsForDurations: true, histogramBucketOverrides: genAiBuckets } } };
}

export function installRuntimeLogging(env: NodeJS.ProcessEnv = process.env, options: { metricsAddress?: string | undefined } = {}): void {
  if (installed) return;
  installed = true;
  const wanted = (env.CONVEYOR_LOG_LEVEL ?? 'WARN').toUpperCase() as LogLevel;
  Runtime.install({ logger: new DefaultLogger(levels.includes(wanted) ? wanted : 'WARN'), ...(options.metricsAddress ? { telemetryOptions: conveyorTelemetry(options.metricsAddress) } : {}) });
}
