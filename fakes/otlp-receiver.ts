/**
 * An OTLP/HTTP traces receiver (POST /v1/traces, the JSON encoding the OpenTelemetry exporters send by
 * default), as an OpenTelemetry Collector would stand: a real HTTP server on a free 127.0.0.1 port that
 * keeps every span it receives, flattened, for tests of what Conveyor's processes export.
 */
import { startLocalServer } from './scripted-server';

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  service: string;
  attributes: Record<string, string | number | boolean>;
  /** Everything the span carried, as received (for checks that nothing in it holds some text). */
  raw: string;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}

interface OtlpBody {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: OtlpValue }[] };
    scopeSpans?: { spans?: { traceId: string; spanId: string; parentSpanId?: string; name: string; attributes?: { key: string; value: OtlpValue }[] }[] }[];
  }[];
}

const valueOf = (value: OtlpValue): string | number | boolean => value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : (value.doubleValue ?? value.boolValue ?? ''));

export async function startOtlpReceiver(): Promise<{ url: string; spans: ReceivedSpan[]; close(): Promise<void> }> {
  const spans: ReceivedSpan[] = [];
  const server = await startLocalServer((req, res, body) => {
    if (req.method !== 'POST' || !req.url?.startsWith('/v1/traces')) {
      res.writeHead(404).end();
      return;
    }
    const parsed = JSON.parse(body) as OtlpBody;
    for (const resourceSpans of parsed.resourceSpans ?? []) {
      const service = String(valueOf(resourceSpans.resource?.attributes?.find((attribute) => attribute.key === 'service.name')?.value ?? {}));
      for (const scope of resourceSpans.scopeSpans ?? []) {
        for (const span of scope.spans ?? []) {
          spans.push({
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId ?? '',
            name: span.name,
            service,
            attributes: Object.fromEntries((span.attributes ?? []).map((attribute) => [attribute.key, valueOf(attribute.value)])),
            raw: JSON.stringify(span),
          });
        }
      }
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  return { url: `http://127.0.0.1:${server.port}/v1/traces`, spans, close: server.close };
}
