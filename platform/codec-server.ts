/**
 * The codec endpoint for the Temporal Web UI and CLI: `POST /decode` and `POST /encode` take and return
 * `{ payloads: [...] }` in proto JSON (metadata values and data in base64) and run them through the
 * payload codec, so an operator's browser shows encrypted inputs and results in clear while the
 * server only ever stores ciphertext. It listens on 127.0.0.1 only, answers CORS for the UI's origin,
 * and, when CONVEYOR_CODEC_TOKEN is set, wants `Authorization: Bearer <token>`.
 * `npx tsx platform/codec-server.ts` runs it with the keyring from the environment; start the embedded
 * server with CONVEYOR_UI_CODEC_ENDPOINT=http://127.0.0.1:<port> so the UI calls it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PayloadCodec } from '@temporalio/common';
import { EncryptionKeyNotFoundError, InvalidEncryptionKeyError, PayloadDecryptionError, payloadCodecFromEnvironment } from './codec';
import { loadSettings } from './settings';
import { JSONToPayload, payloadToJSON, type JSONPayload } from '@temporalio/common/lib/proto-utils';

export interface CodecServerOptions {
  /** 0 picks a free port. */
  port: number;
  codec: PayloadCodec;
  /** Browser origins allowed to call (the Web UI's, e.g. http://localhost:8233). */
  allowedOrigin: string | readonly string[];
  /** When set, every POST needs `Authorization: Bearer <token>`. */
  token?: string;
  maxBodyBytes?: number;
  log?: (line: string) => void;
}

export interface RunningCodecServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** One payload as proto JSON: metadata values and data are base64. */
/** A payload as the codec endpoint's JSON carries it (metadata values and data in base64): the SDK's own type. */
export type JsonPayload = JSONPayload;

/** A codec server setting (port) from the environment is unusable. */
export class InvalidCodecServerSettingError extends Error {
  override readonly name = 'InvalidCodecServerSettingError';
}

class BadCodecRequestError extends Error {
  override readonly name = 'BadCodecRequestError';
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

// The SDK's own conversions between payloads and their JSON (base64) form, re-exported for the tests' clients.
export { JSONToPayload as payloadFromJson, payloadToJSON as payloadToJson };

function parsePayloads(body: string): JsonPayload[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new BadCodecRequestError('The body is not JSON; expected { "payloads": [ { "metadata": {…}, "data": "<base64>" } ] }.');
  }
  const payloads = (parsed as { payloads?: unknown } | null)?.payloads;
  const isJsonPayload = (value: unknown): value is JsonPayload =>
    typeof value === 'object' &&
    value !== null &&
    ((value as JsonPayload).data == null || typeof (value as JsonPayload).data === 'string') &&
    ((value as JsonPayload).metadata == null ||
      (typeof (value as JsonPayload).metadata === 'object' && Object.values((value as JsonPayload).metadata!).every((entry) => typeof entry === 'string')));
  if (!Array.isArray(payloads) || !payloads.every(isJsonPayload)) {
    throw new BadCodecRequestError('Expected { "payloads": [ { "metadata": { "<key>": "<base64>" }, "data": "<base64>" } ] }.');
  }
  return payloads;
}

function sameSecret(given: string, expected: string): boolean {
  // Hashing first gives equal lengths, so the comparison time says nothing about the token.
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function readBody(request: http.IncomingMessage, maxBodyBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        reject(new BadCodecRequestError(`The body is larger than ${maxBodyBytes} bytes.`, 413));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

/** Starts the codec endpoint on 127.0.0.1. */
export async function startCodecServer(options: CodecServerOptions): Promise<RunningCodecServer> {
  const allowedOrigins = new Set(typeof options.allowedOrigin === 'string' ? [options.allowedOrigin] : options.allowedOrigin);
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));

  function corsHeaders(request: http.IncomingMessage): Record<string, string> {
    const origin = request.headers.origin;
    if (!origin || !allowedOrigins.has(origin)) return { Vary: 'Origin' };
    return {
      Vary: 'Origin',
      'Access-Control-Allow-Origin': origin,
      'Access-Control-Allow-Methods': 'POST, OPTIONS',
      'Access-Control-Allow-Headers': 'Content-Type, X-Namespace, Authorization',
      'Access-Control-Allow-Credentials': 'true',
      'Access-Control-Max-Age': '600',
      ...(request.headers['access-control-request-private-network'] ? { 'Access-Control-Allow-Private-Network': 'true' } : {}),
    };
  }

  function reply(request: http.IncomingMessage, response: http.ServerResponse, status: number, body?: unknown): void {
    response.writeHead(status, { ...corsHeaders(request), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) });
    response.end(body === undefined ? undefined : JSON.stringify(body));
  }

  async function handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const route = new URL(request.url ?? '/', 'http://codec').pathname.replace(/\/+$/, '');
    const origin = request.headers.origin;
    if (origin && !allowedOrigins.has(origin)) {
      return reply(request, response, 403, { error: 'OriginNotAllowed', message: `Origin ${origin} may not use this codec endpoint.` });
    }
    if (request.method === 'OPTIONS') return reply(request, response, 204);
    if (route !== '/decode' && route !== '/encode') {
      return reply(request, response, 404, { error: 'NotFound', message: 'POST /decode or POST /encode.' });
    }
    if (request.method !== 'POST') return reply(request, response, 405, { error: 'MethodNotAllowed', message: 'Use POST.' });
    if (options.token) {
      const authorization = request.headers.authorization ?? '';
      const given = /^Bearer\s+(.+)$/i.exec(authorization)?.[1] ?? '';
      if (!given || !sameSecret(given, options.token)) {
        return reply(request, response, 401, { error: 'Unauthorized', message: 'A valid "Authorization: Bearer <CONVEYOR_CODEC_TOKEN>" header is required.' });
      }
    }
    try {
      const payloads = parsePayloads(await readBody(request, maxBodyBytes)).map(JSONToPayload);
      const transformed = route === '/decode' ? await options.codec.decode(payloads) : await options.codec.encode(payloads);
      return reply(request, response, 200, { payloads: transformed.map(payloadToJSON) });
    } catch (error) {
      if (error instanceof BadCodecRequestError) return reply(request, response, error.status, { error: error.name, message: error.message });
      if (error instanceof EncryptionKeyNotFoundError || error instanceof PayloadDecryptionError) {
        return reply(request, response, 422, { error: error.name, message: error.message });
      }
      log(`conveyor codec server: ${route} failed (${error instanceof Error ? error.name : 'unknown error'})`);
      return reply(request, response, 500, { error: 'CodecFailed', message: 'The codec failed; see the codec server log.' });
    }
  }

  const server = http.createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/**
 * Runs the endpoint from the environment: the keyring (CONVEYOR_ENCRYPTION_KEY[_FILE]), the port
 * (CONVEYOR_CODEC_PORT, default 8888), the UI origins (CONVEYOR_CODEC_ALLOWED_ORIGINS, comma-separated;
 * default the configured or embedded Web UI) and the optional CONVEYOR_CODEC_TOKEN.
 */
export async function runCodecServer(env: NodeJS.ProcessEnv = process.env, log = (line: string) => console.log(line)): Promise<RunningCodecServer> {
  const codec = payloadCodecFromEnvironment(env);
  if (!codec) {
    throw new InvalidEncryptionKeyError('No encryption key is configured: set CONVEYOR_ENCRYPTION_KEY (and CONVEYOR_ENCRYPTION_KEY_ID) or CONVEYOR_ENCRYPTION_KEY_FILE.');
  }
  const settings = loadSettings(env);
  const uiOrigins = settings.uiUrl
    ? [new URL(settings.uiUrl).origin]
    : [`http://localhost:${settings.embeddedUiPort}`, `http://127.0.0.1:${settings.embeddedUiPort}`];
  const allowedOrigin = env.CONVEYOR_CODEC_ALLOWED_ORIGINS ? env.CONVEYOR_CODEC_ALLOWED_ORIGINS.split(',').map((origin) => origin.trim()) : uiOrigins;
  const port = Number(env.CONVEYOR_CODEC_PORT || 8888);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidCodecServerSettingError(`CONVEYOR_CODEC_PORT=${env.CONVEYOR_CODEC_PORT} is not a port number (0–65535).`);
  }
  const running = await startCodecServer({ port, codec, allowedOrigin, token: env.CONVEYOR_CODEC_TOKEN || undefined });
  log(
    `conveyor codec server on ${running.url} for ${allowedOrigin.join(', ')}${env.CONVEYOR_CODEC_TOKEN ? ' (bearer token required)' : ''}; ` +
      `start the embedded server with CONVEYOR_UI_CODEC_ENDPOINT=${running.url}`,
  );
  return running;
}

if (require.main === module) {
  runCodecServer()
    .then((running) => {
      const stop = () => void running.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    })
    .catch((error: unknown) => {
      console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
      process.exit(1);
    });
}
