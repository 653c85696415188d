/**
 * OpenTelemetry tracing, on when CONVEYOR_OTLP_TRACES_URL names an OTLP/HTTP receiver (an OpenTelemetry
 * Collector, Jaeger, Tempo…): one tracer provider per process, registered globally, exporting in batches.
 * The client's start of a job, its workflow and every activity share one trace (Temporal's OpenTelemetry
 * interceptors carry the context in headers); model calls add a span with the GenAI conventions'
 * attributes (activities/factory.ts). Spans carry ids, names, models, token counts and outcomes — never a
 * prompt, an input or an answer.
 */
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace-node';
import { OpenTelemetryPlugin, OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';

export interface Tracing {
  resource: Resource;
  spanProcessor: SpanProcessor;
  /** Sends what is buffered and stops the provider. */
  shutdown(): Promise<void>;
}

let installed: { url: string; tracing: Tracing } | undefined;

/** The process's tracing (installed on first use; a second URL in one process is refused). */
export function installTracing(url: string, serviceName: string): Tracing {
  if (installed) {
    if (installed.url !== url) throw new Error(`tracing already exports to ${installed.url}; one OTLP endpoint per process`);
    return installed.tracing;
  }
  const resource = new Resource({ 'service.name': serviceName });
  const spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter({ url }), { scheduledDelayMillis: 500 });
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register();
  installed = { url, tracing: { resource, spanProcessor, shutdown: () => provider.shutdown() } };
  return installed.tracing;
}

/** The worker plugin that traces workflows and activities (its workflow interceptors are bundled with the workflows). */
export function tracingPlugin(tracing: Tracing): OpenTelemetryPlugin {
  return new OpenTelemetryPlugin({ resource: tracing.resource, spanProcessor: tracing.spanProcessor });
}

/** The client interceptor that opens a job's trace when it starts it. */
export function tracingClientInterceptor(): OpenTelemetryWorkflowClientInterceptor {
  return new OpenTelemetryWorkflowClientInterceptor();
}
