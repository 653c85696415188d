/**
 * Payload encryption on a real embedded Temporal server with its own data dir: a job whose input holds
 * personal data runs end to end, and afterwards that data is nowhere in clear, not in the SQLite files
 * nor in the history as a client without the key sees it; the codec endpoint decodes for the Web UI;
 * keys rotate without losing old histories.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { NativeConnection, Worker, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { ConveyorClient } from '../client';
import { Outbox } from '../activities/outbox';
import {
  createKeyring,
  EncryptionCodec,
  EncryptionKeyNotFoundError,
  encryptedEncoding,
  generateEncryptionKey,
  InvalidEncryptionKeyError,
  keyringFromSettings,
  loadKeyring,
  PayloadDecryptionError,
} from '../platform/codec';
import { payloadToJson, startCodecServer, type JsonPayload, type RunningCodecServer } from '../platform/codec-server';
import { connectClient, connectWorkerConnection } from '../platform/connection';
import { ensureTemporal, freePort, type TemporalEndpoint } from '../platform/embedded-server';
import { loadSettings, type ConveyorSettings } from '../platform/settings';
import { createModelGateway } from '../providers/gateway';
import { bundleConveyorWorkflows, createConveyorWorker } from '../workers/worker';
import { decideSignal } from '../workflows/messages';
import { launchBrowser } from './support/browser';
import { eventually, tempDir, uniqueId } from './support/temporal';
import { chromiumMissing } from './support/prerequisites';

const email = 'jane.doe.4471@example.org';
const card = '4111 1111 1111 1111';
const personalData = [email, card, card.replace(/ /g, '')];
const ticket = { text: `I want my money back for order #A12345, it never arrived. Contact ${email}, card ${card}.` };
const codecToken = generateEncryptionKey();

// Keys are generated per run: nothing secret is in the repository or the test output.
const keyA = generateEncryptionKey();
const keyB = generateEncryptionKey();
const keyringA = createKeyring('key-a', { 'key-a': keyA });
const codecA = new EncryptionCodec(keyringA);
const codecRotated = new EncryptionCodec(createKeyring('key-b', { 'key-a': keyA, 'key-b': keyB }));

let bundle: WorkflowBundleWithSourceMap;
let dataDir: string;
let settings: ConveyorSettings;
let server: TemporalEndpoint | undefined;
let codecServer: RunningCodecServer;
/** The endpoint the Web UI calls: the browser cannot attach our bearer token, so this one has none. */
let uiCodecServer: RunningCodecServer;
let plainClient: ConveyorClient | undefined;
const jobA = uniqueId('pii-a');
const jobB = uniqueId('pii-b');

interface RunningEncryptedWorker {
  stop(): Promise<void>;
}

async function startEncryptedWorker(codec: EncryptionCodec): Promise<RunningEncryptedWorker> {
  const connection: NativeConnection = await connectWorkerConnection(settings, settings.address!);
  const gateway = createModelGateway({ cache: null });
  // The worker's action log is sealed with the same keys as its payloads (as defaultOutbox does).
  const outbox = new Outbox(path.join(dataDir, 'outbox.sqlite'), keyringA);
  const worker: Worker = await createConveyorWorker({
    connection,
    namespace: settings.namespace,
    taskQueue: settings.taskQueue,
    gateway,
    outbox,
    workflowBundle: bundle,
    payloadCodec: codec,
  });
  const running = worker.run();
  return {
    async stop() {
      worker.shutdown();
      await running;
      await gateway.close();
      await outbox.close();
      await connection.close();
    },
  };
}

async function conveyorClient(codec: EncryptionCodec | null): Promise<ConveyorClient> {
  return new ConveyorClient(await connectClient(settings, settings.address!, { payloadCodec: codec }), settings.taskQueue);
}

async function withClient<T>(codec: EncryptionCodec | null, use: (client: ConveyorClient) => Promise<T>): Promise<T> {
  const client = await conveyorClient(codec);
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

async function runTriage(codec: EncryptionCodec, jobId: string) {
  const worker = await startEncryptedWorker(codec);
  try {
    return await withClient(codec, async (client) => {
      await client.startJob({ id: jobId, type: 'triage', input: ticket, policy: { confidenceThresholds: { 'classify-intent': 0 } } });
      return client.getResult(jobId);
    });
  } finally {
    await worker.stop();
  }
}

/** The history exactly as the server hands it to anyone, as protobuf bytes and its first input payload. */
async function rawHistory(jobId: string): Promise<{ bytes: Buffer; input: Payload }> {
  const history = await plainClient!.temporal.workflow.getHandle(jobId).fetchHistory();
  const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!input) throw new Error(`no input payload in the history of ${jobId}`);
  return { bytes: Buffer.from(temporal.api.history.v1.History.encode(history).finish()), input };
}

const keyIdOf = (payload: Payload) => Buffer.from(payload.metadata?.['encryption-key-id'] ?? new Uint8Array()).toString();

function postToCodec(route: string, payloads: JsonPayload[], token = codecToken) {
  return fetch(`${codecServer.url}${route}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}`, 'X-Namespace': 'default' },
    body: JSON.stringify({ payloads }),
  });
}

beforeAll(async () => {
  bundle = await bundleConveyorWorkflows();
  dataDir = tempDir('codec');
  const uiPort = await freePort();
  const uiOrigins = [`http://localhost:${uiPort}`, `http://127.0.0.1:${uiPort}`];
  codecServer = await startCodecServer({ port: 0, codec: codecRotated, allowedOrigin: uiOrigins, token: codecToken });
  uiCodecServer = await startCodecServer({ port: 0, codec: codecRotated, allowedOrigin: uiOrigins });
  const ownSettings = loadSettings({
    CONVEYOR_DATA_DIR: dataDir,
    CONVEYOR_GRPC_PORT: String(await freePort()),
    CONVEYOR_UI_PORT: String(uiPort),
    CONVEYOR_TASK_QUEUE: 'codec-test',
  });
  server = await ensureTemporal(ownSettings, { fresh: true, uiCodecEndpoint: uiCodecServer.url });
  settings = { ...ownSettings, address: server.address };
  plainClient = await conveyorClient(null);
});

afterAll(async () => {
  await plainClient?.close();
  await server?.stop();
  await codecServer?.close();
  await uiCodecServer?.close();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('the encryption codec', () => {
  it('seals the action log at rest with the keyring: no card number or email in clear, read back whole (issue 13, item 8)', async () => {
    const file = path.join(tempDir('outbox-sealed'), 'outbox.sqlite');
    const sealed = new Outbox(file, keyringA);
    const action = { action: 'refund' as const, orderId: 'ORD-1', amountUsd: 20, message: `Refunded to card ${card}; receipt sent to ${email}.`, reason: 'restored from [CARD_1]' };
    await sealed.execute({ idempotencyKey: 'job-1:act', jobId: 'job-1', stepId: 'act', action, approvedBy: ['alice'] });
    expect(await sealed.rows('job-1')).toEqual([expect.objectContaining({ action, approvedBy: ['alice'] })]);
    await sealed.close();
    const stored = ['', '-wal'].filter((suffix) => fs.existsSync(file + suffix)).map((suffix) => fs.readFileSync(file + suffix).toString('latin1')).join('');
    expect(stored).toContain('job-1:act');
    for (const secret of personalData) expect(stored).not.toContain(secret);
    // without the key the action cannot be read, and a plain outbox (no encryption) still reads its old rows
    await expect(new Outbox(file).rows('job-1')).rejects.toThrow(EncryptionKeyNotFoundError);
  });

  it('rejects short keys, unknown key ids and tampered ciphertext with typed errors, and reads a keyring file', async () => {
    expect(() => createKeyring('short', { short: Buffer.alloc(16).toString('base64') })).toThrow(InvalidEncryptionKeyError);
    expect(() => loadKeyring({ CONVEYOR_ENCRYPTION_KEY: 'bm90IGEga2V5' })).toThrow(/32 bytes/);
    expect(loadKeyring({})).toBeUndefined();

    const keyFile = path.join(dataDir, 'keys.json');
    fs.writeFileSync(keyFile, JSON.stringify({ current: 'key-b', keys: { 'key-a': keyA, 'key-b': keyB } }));
    const fromFile = loadKeyring({ CONVEYOR_ENCRYPTION_KEY_FILE: keyFile });
    fs.rmSync(keyFile);
    expect(fromFile?.currentKeyId).toBe('key-b');
    expect([...(fromFile?.keys.keys() ?? [])]).toEqual(['key-a', 'key-b']);

    const [sealed] = await codecRotated.encode([defaultPayloadConverter.toPayload({ email })]);
    expect(Buffer.from(sealed!.data!).toString('latin1')).not.toContain(email);
    await expect(codecA.decode([sealed!])).rejects.toThrow(EncryptionKeyNotFoundError);
    const tampered = Buffer.from(sealed!.data!);
    tampered[20]! ^= 1;
    await expect(codecRotated.decode([{ ...sealed!, data: tampered }])).rejects.toThrow(PayloadDecryptionError);
    const relabelled = { ...sealed!, metadata: { ...sealed!.metadata, 'encryption-key-id': Buffer.from('key-a') } };
    await expect(codecRotated.decode([relabelled])).rejects.toThrow(PayloadDecryptionError);
  });
});

describe('a job with personal data on an encrypted server', () => {
  it('completes, and a client without the key sees only ciphertext in its history', async () => {
    const result = await runTriage(codecA, jobA);
    expect(result.status).toBe('completed');
    expect(result.ledger[0]).toMatchObject({ station: 'classify-intent', outcome: 'accepted' });
    expect(result.outputs.intent).toMatchObject({ intent: expect.any(String) as unknown });

    const history = await rawHistory(jobA);
    expect(Buffer.from(history.input.metadata!.encoding!).toString()).toBe(encryptedEncoding);
    expect(keyIdOf(history.input)).toBe('key-a');
    const clearText = history.bytes.toString('latin1');
    expect(clearText).toContain(jobA);
    for (const secret of personalData) expect(clearText).not.toContain(secret);
    // The plain client cannot read the result either.
    await expect(plainClient!.getResult(jobA)).rejects.toThrow();
  });

  it('a client connected with settings encrypts with the settings\' key, whatever process.env holds', async () => {
    expect(process.env.CONVEYOR_ENCRYPTION_KEY ?? process.env.CONVEYOR_ENCRYPTION_KEY_FILE).toBeUndefined();
    const keyed = loadSettings({ CONVEYOR_DATA_DIR: dataDir, TEMPORAL_ADDRESS: server!.address, CONVEYOR_TASK_QUEUE: settings.taskQueue, CONVEYOR_ENCRYPTION_KEY: keyA, CONVEYOR_ENCRYPTION_KEY_ID: 'key-a' });
    expect(keyringFromSettings(keyed)?.currentKeyId).toBe('key-a');
    const jobId = uniqueId('pii-settings');
    const worker = await startEncryptedWorker(codecA);
    const client = await ConveyorClient.connect({ settings: keyed });
    try {
      await client.startJob({ id: jobId, type: 'triage', input: ticket, policy: { confidenceThresholds: { 'classify-intent': 0 } } });
      expect((await client.getResult(jobId)).status).toBe('completed');
    } finally {
      await client.close();
      await worker.stop();
    }
    const history = await rawHistory(jobId);
    expect(keyIdOf(history.input)).toBe('key-a');
    for (const secret of personalData) expect(history.bytes.toString('latin1')).not.toContain(secret);
    // A bad key in the settings fails when the codec is built, naming the variable it came from.
    expect(() => keyringFromSettings(loadSettings({ CONVEYOR_DATA_DIR: dataDir, CONVEYOR_ENCRYPTION_KEY: 'bm90IGEga2V5' }))).toThrow(/32 bytes/);
    expect(keyringFromSettings(loadSettings({ CONVEYOR_DATA_DIR: dataDir }))).toBeUndefined();
  });

  it('encrypts every payload kind of a history: input, result, memo, summaries, activity inputs and results, markers, signals and updates', async () => {
    const jobId = uniqueId('pii-kinds');
    const worker = await startEncryptedWorker(codecA);
    try {
      await withClient(codecA, async (client) => {
        // A refund above the threshold waits for a reviewer: a refused signal and an accepted update reach the history.
        await client.startJob({ id: jobId, type: 'support-ticket', input: { text: `Refund $900.00 for order #W40004 please. Contact ${email}, card ${card}.` } });
        const [approval] = await eventually(async () => {
          const pending = (await client.getStatus(jobId)).pendingApprovals;
          return pending.length > 0 ? pending : undefined;
        }, 60_000);
        await client.temporal.workflow.getHandle(jobId).signal(decideSignal, { approvalId: approval!.approvalId, decision: 'approve', reviewer: 'mallory', comment: `signed off for ${email}` });
        await client.decide(jobId, { approvalId: approval!.approvalId, decision: 'approve', reviewer: 'alice', comment: `ok for ${email}` });
        expect((await client.getResult(jobId)).status).toBe('completed');
      });
    } finally {
      await worker.stop();
    }
    const history = await plainClient!.temporal.workflow.getHandle(jobId).fetchHistory();
    // Every payload anywhere in the history, by where it sits; search attributes stay readable by design, and
    // so does the SDK's own marker bookkeeping (a patch id; a local activity's sequence number, type and times).
    const sdkBookkeeping = ['markerRecordedEventAttributes.details.patch-data', 'markerRecordedEventAttributes.details.data'];
    const found = new Map<string, number>();
    const plain: string[] = [];
    const visit = (value: unknown, where: string): void => {
      if (value === null || typeof value !== 'object') return;
      if (Array.isArray(value)) return value.forEach((item) => visit(item, where));
      const record = value as Record<string, unknown>;
      if (record.metadata && record.data instanceof Uint8Array) {
        found.set(where, (found.get(where) ?? 0) + 1);
        const encoding = Buffer.from((record.metadata as Record<string, Uint8Array>).encoding ?? new Uint8Array()).toString();
        if (encoding !== encryptedEncoding && !sdkBookkeeping.some((prefix) => where.startsWith(prefix))) plain.push(`${where} (${encoding})`);
        return;
      }
      for (const [key, child] of Object.entries(record)) if (key !== 'searchAttributes') visit(child, key.endsWith('EventAttributes') ? key : where === 'history' ? key : `${where}.${key}`);
    };
    visit(history, 'history');
    expect(plain, plain.join('; ')).toEqual([]);
    const kinds = [...found.keys()].join(' ');
    for (const kind of [
      'workflowExecutionStartedEventAttributes.input',
      'workflowExecutionCompletedEventAttributes.result',
      'workflowPropertiesModifiedEventAttributes.upsertedMemo',
      'userMetadata.summary',
      'activityTaskScheduledEventAttributes.input',
      'activityTaskCompletedEventAttributes.result',
      'markerRecordedEventAttributes.details.result',
      'workflowExecutionSignaledEventAttributes.input',
      'workflowExecutionUpdateAcceptedEventAttributes.acceptedRequest',
    ]) {
      expect(kinds, `a payload under ${kind}`).toContain(kind);
    }
    const bytes = Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('latin1');
    for (const secret of personalData) expect(bytes.includes(secret), `the history holds "${secret}" in clear`).toBe(false);
  });

  it('keeps old histories readable after the current key rotates from A to B', async () => {
    const result = await runTriage(codecRotated, jobB);
    expect(result.status).toBe('completed');
    expect(keyIdOf((await rawHistory(jobB)).input)).toBe('key-b');
    await withClient(codecRotated, async (client) => {
      expect((await client.getResult(jobA)).status).toBe('completed');
    });
    // A process that only has key A cannot read what B sealed.
    await withClient(codecA, async (client) => {
      await expect(client.getResult(jobB)).rejects.toThrow(/key-b/);
    });
  });

  it('serves /decode to the Web UI: clear JSON for a good token, 401 for a wrong one, an error for an unknown key', async () => {
    const { input } = await rawHistory(jobA);
    const decoded = await postToCodec('/decode', [payloadToJson(input)]);
    expect(decoded.status).toBe(200);
    const body = (await decoded.json()) as { payloads: JsonPayload[] };
    const clear = Buffer.from(body.payloads[0]!.data!, 'base64').toString('utf8');
    expect(JSON.parse(clear)).toMatchObject({ id: jobA, input: ticket });

    expect((await postToCodec('/decode', [payloadToJson(input)], 'wrong-token')).status).toBe(401);

    const unknownKey = payloadToJson({ ...input, metadata: { ...input.metadata, 'encryption-key-id': Buffer.from('key-z') } });
    const refused = await postToCodec('/decode', [unknownKey]);
    expect(refused.status).toBe(422);
    expect(await refused.json()).toMatchObject({ error: 'EncryptionKeyNotFoundError' });

    const preflight = await fetch(`${codecServer.url}/decode`, {
      method: 'OPTIONS',
      headers: { Origin: `http://localhost:${settings.embeddedUiPort}`, 'Access-Control-Request-Method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(`http://localhost:${settings.embeddedUiPort}`);
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/x-namespace/i);
  });

  it.skipIf(chromiumMissing())('shows the decoded input in the Temporal Web UI started with --ui-codec-endpoint', async () => {
    const uiUrl = `http://localhost:${settings.embeddedUiPort}`;
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await page.goto(`${uiUrl}/namespaces/${settings.namespace}/workflows?query=${encodeURIComponent(`WorkflowId="${jobA}"`)}`);
      const link = page.getByRole('link', { name: jobA, exact: true }).first();
      await link.waitFor({ state: 'visible', timeout: 30_000 });
      await link.click();
      await page.getByText(email).first().waitFor({ state: 'visible', timeout: 30_000 });
    } finally {
      await browser.close();
    }
  });

  it('leaves no personal data in clear in any file of the data dir once the server has stopped', async () => {
    await plainClient?.close();
    plainClient = undefined;
    await server!.stop();
    server = undefined;
    const files = fs.readdirSync(dataDir, { recursive: true, encoding: 'utf8' }).filter((file) => fs.statSync(path.join(dataDir, file)).isFile());
    expect(files).toEqual(expect.arrayContaining(['temporal.sqlite']));
    let scannedBytes = 0;
    for (const file of files) {
      const bytes = fs.readFileSync(path.join(dataDir, file));
      scannedBytes += bytes.length;
      const asText = bytes.toString('latin1');
      for (const secret of personalData) expect(asText, `${file} holds "${secret}" in clear`).not.toContain(secret);
    }
    // The scan read the real database: the job ids (not personal data) are there in clear.
    const database = ['temporal.sqlite', 'temporal.sqlite-wal'].filter((file) => files.includes(file)).map((file) => fs.readFileSync(path.join(dataDir, file)).toString('latin1')).join('');
    expect(database).toContain(jobA);
    expect(scannedBytes).toBeGreaterThan(0);
  });
});
