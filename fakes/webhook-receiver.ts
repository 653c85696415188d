/**
 * A webhook receiver as a team runs one, for the delivery tests: a real HTTP server on a free 127.0.0.1
 * port that records every delivery (headers, raw body, when it came) and answers what the test's
 * `respond` says. `processed` holds each `webhook-id` once: what a receiver that dedupes on it acted on.
 * It verifies nothing itself; tests verify with the `standardwebhooks` package, as a receiver would.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { startLocalServer } from './scripted-server';

export interface Delivery {
  id: string;
  timestamp: string;
  signature: string;
  headers: IncomingHttpHeaders;
  body: string;
  envelope: { type: string; timestamp: string; data: Record<string, unknown>; jobId: string; stepId: string; idempotencyKey: string; approvers: string[] };
  receivedAt: number;
}

export interface ReceiverAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Wait this long before answering (deliveries stay in flight). */
  delayMs?: number;
}

export interface WebhookReceiver {
  url: string;
  deliveries: Delivery[];
  /** Each webhook-id once, with the first delivery that carried it. */
  processed: Map<string, Delivery>;
  /** The deliveries of one job, in order. */
  of(jobId: string): Delivery[];
  close(): Promise<void>;
}

/** `respond` sees the delivery and how many earlier deliveries carried the same webhook-id. */
export async function startWebhookReceiver(respond: (delivery: Delivery, earlierWithId: number) => ReceiverAnswer = () => ({ status: 200 })): Promise<WebhookReceiver> {
  const deliveries: Delivery[] = [];
  const processed = new Map<string, Delivery>();
  const header = (headers: IncomingHttpHeaders, name: string) => String(headers[name] ?? '');
  const server = await startLocalServer((req, res, body) => {
    const delivery: Delivery = {
      id: header(req.headers, 'webhook-id'),
      timestamp: header(req.headers, 'webhook-timestamp'),
      signature: header(req.headers, 'webhook-signature'),
      headers: req.headers,
      body,
      envelope: JSON.parse(body) as Delivery['envelope'],
      receivedAt: Date.now(),
    };
    const earlier = deliveries.filter((seen) => seen.id === delivery.id).length;
    deliveries.push(delivery);
    const answer = respond(delivery, earlier);
    const send = () => {
      if (answer.status >= 200 && answer.status < 300 && !processed.has(delivery.id)) processed.set(delivery.id, delivery);
      const text = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers }).end(text);
    };
    if (answer.delayMs) setTimeout(send, answer.delayMs);
    else send();
  });
  return {
    url: `http://127.0.0.1:${server.port}/hooks`,
    deliveries,
    processed,
    of: (jobId) => deliveries.filter((delivery) => delivery.envelope.jobId === jobId),
    close: server.close,
  };
}
