/**
 * The shared machinery of the fake provider servers: a real HTTP server on a free 127.0.0.1 port that
 * answers each request with the next scripted answer (the last one repeats) and records every request,
 * so tests see exactly what a client library put on the wire and how many calls it made.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface FakeUsage {
  inputTokens: number;
  outputTokens: number;
  /** Of the input tokens, those read from the provider's prompt cache (OpenAI `prompt_tokens_details.cached_tokens`). */
  cachedInputTokens?: number;
  /** Of the output tokens, the reasoning ones (OpenAI `completion_tokens_details.reasoning_tokens`). */
  reasoningTokens?: number;
}

/** One generated token and its log-probability, as OpenAI's `logprobs.content` lists them. */
export interface FakeTokenLogprob {
  token: string;
  logprob: number;
}

export type FakeAnswer =
  /** A plain text answer. */
  | { kind: 'text'; text: string; usage?: FakeUsage }
  /** A JSON answer (JSON mode / structured output): the value is serialised as the model's content. */
  | { kind: 'json'; value: unknown; usage?: FakeUsage; logprobs?: FakeTokenLogprob[] }
  /** An HTTP error: 429 with Retry-After, 500, 400 context length, 401, 404… in the protocol's error shape. */
  | { kind: 'error'; status: number; message?: string; code?: string; headers?: Record<string, string> }
  /** The connection is destroyed before any response. */
  | { kind: 'reset' }
  /** A 200 whose body is not JSON. */
  | { kind: 'malformed' }
  /** Waits, then gives another answer (use a delay longer than the model timeout to test timeouts). */
  | { kind: 'delay'; ms: number; then: FakeAnswer }
  /** Waits until the test says so (an event it observed, not a guess at how long that takes), then answers. */
  | { kind: 'when'; released: Promise<unknown>; then: FakeAnswer };

export const answers = {
  text: (text: string, usage?: FakeUsage): FakeAnswer => ({ kind: 'text', text, usage }),
  json: (value: unknown, usage?: FakeUsage): FakeAnswer => ({ kind: 'json', value, usage }),
  /**
   * A JSON answer with token log-probabilities: its content split into tokens at quotes, colons, commas and
   * braces, every token certain (logprob 0) except those of the string `value` of `field`, which share
   * `probability` (their log-probabilities sum to its logarithm).
   */
  jsonWithLogprobs: (value: Record<string, unknown>, field: string, probability: number, usage?: FakeUsage): FakeAnswer => ({
    kind: 'json',
    value,
    usage,
    logprobs: tokenLogprobs(JSON.stringify(value), JSON.stringify(value[field]), probability),
  }),
  rateLimited: (retryAfter: string): FakeAnswer => ({ kind: 'error', status: 429, message: 'Rate limit reached', headers: { 'retry-after': retryAfter } }),
  serverError: (status = 500): FakeAnswer => ({ kind: 'error', status, message: 'The server had an error' }),
  error: (status: number, message: string, code?: string): FakeAnswer => ({ kind: 'error', status, message, code }),
  reset: (): FakeAnswer => ({ kind: 'reset' }),
  malformed: (): FakeAnswer => ({ kind: 'malformed' }),
  delay: (ms: number, then: FakeAnswer): FakeAnswer => ({ kind: 'delay', ms, then }),
  when: (released: Promise<unknown>, then: FakeAnswer): FakeAnswer => ({ kind: 'when', released, then }),
};

/** A list of answers (consumed in order, the last repeating) or a function of the request. */
export type FakeScript = FakeAnswer[] | ((request: RecordedRequest, index: number) => FakeAnswer);

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

export interface FakeServer {
  /** Base URL to configure the client with (includes the /v1 prefix). */
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export interface WireProtocol {
  success(answer: Extract<FakeAnswer, { kind: 'text' | 'json' }>, request: RecordedRequest): unknown;
  errorBody(answer: Extract<FakeAnswer, { kind: 'error' }>): unknown;
}

export async function startScriptedServer(script: FakeScript, protocol: WireProtocol): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];

  const answerFor = (request: RecordedRequest, index: number): FakeAnswer => {
    if (typeof script === 'function') return script(request, index);
    const answer = script[Math.min(index, script.length - 1)];
    if (!answer) throw new Error('the fake server was given an empty script');
    return answer;
  };

  const respond = (answer: FakeAnswer, request: RecordedRequest, req: http.IncomingMessage, res: http.ServerResponse) => {
    switch (answer.kind) {
      case 'delay': {
        const timer = setTimeout(() => respond(answer.then, request, req, res), answer.ms);
        res.on('close', () => clearTimeout(timer));
        return;
      }
      case 'when':
        void answer.released.then(() => {
          if (!res.destroyed) respond(answer.then, request, req, res);
        });
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'malformed':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"id": "broken", "choices": [');
        return;
      case 'error':
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers }).end(JSON.stringify(protocol.errorBody(answer)));
        return;
      default:
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(protocol.success(answer, request)));
    }
  };

  const server = await startLocalServer((req, res, raw) => {
    let body: unknown = raw;
    try {
      body = raw ? (JSON.parse(raw) as unknown) : undefined;
    } catch {
      // Recorded as text: the test will see what was sent.
    }
    const request: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
    const index = requests.length;
    requests.push(request);
    respond(answerFor(request, index), request, req, res);
  });
  return { url: `http://127.0.0.1:${server.port}/v1`, requests, close: server.close };
}

/** A real HTTP server on a free 127.0.0.1 port, handed each request with its whole body; close() drops open connections. */
export async function startLocalServer(handle: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Tokens of `content` with log-probabilities: those inside the first occurrence of `quotedValue` share `probability`. */
export function tokenLogprobs(content: string, quotedValue: string, probability: number): FakeTokenLogprob[] {
  const tokens = content.match(/[{}":,]|[^{}":,]+/g) ?? [];
  const start = content.indexOf(quotedValue) + 1;
  const end = start + quotedValue.length - 2;
  let offset = 0;
  const inside: number[] = [];
  tokens.forEach((token, index) => {
    if (offset >= start && offset + token.length <= end) inside.push(index);
    offset += token.length;
  });
  return tokens.map((token, index) => ({ token, logprob: inside.includes(index) ? Math.log(probability) / inside.length : 0 }));
}

export function contentOf(answer: Extract<FakeAnswer, { kind: 'text' | 'json' }>): string {
  return answer.kind === 'json' ? JSON.stringify(answer.value) : answer.text;
}
