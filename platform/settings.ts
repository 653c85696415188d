/**
 * Conveyor's settings, read once from the environment by the worker, the client and the CLI alike, and
 * passed in from there: the one module that reads Conveyor's variables (lint-enforced, see eslint.config.js).
 * No TEMPORAL_ADDRESS means "the embedded dev server": started on demand under CONVEYOR_DATA_DIR.
 */
import path from 'node:path';
import { z } from 'zod';

const portSchema = z.coerce.number().int().min(1).max(65_535);

export const settingsSchema = z.object({
  /** host:port of an existing Temporal frontend; unset means the embedded server. */
  address: z.string().regex(/^[^\s:]+:\d+$/, 'expected host:port, e.g. 127.0.0.1:7233').optional(),
  namespace: z.string().min(1).default('default'),
  taskQueue: z.string().min(1).default('conveyor'),
  apiKey: z.string().min(1).optional(),
  /**
   * Payload encryption (platform/codec.ts): a keyring file (CONVEYOR_ENCRYPTION_KEY_FILE, for rotation) or
   * one key (CONVEYOR_ENCRYPTION_KEY, id CONVEYOR_ENCRYPTION_KEY_ID, default "default"). Unset: payloads in
   * clear. `ConveyorClient.connect`, `runWorker`, the action log and the claim store build their codec
   * from these, not from process.env (the codec server reads the same variables from the environment it
   * is given; `createConveyorWorker` without a `payloadCodec` from process.env).
   */
  encryption: z
    .object({
      keyFile: z.string().min(1).optional(),
      key: z.string().min(1).optional(),
      keyId: z.string().min(1).optional(),
    })
    .optional(),
  tls: z
    .object({
      clientCertPath: z.string().optional(),
      clientKeyPath: z.string().optional(),
      serverCaCertPath: z.string().optional(),
      serverName: z.string().optional(),
    })
    .optional(),
  dataDir: z.string().min(1),
  embeddedGrpcPort: portSchema.default(7233),
  embeddedUiPort: portSchema.default(8233),
  /** Where a Temporal UI for this cluster is served, for links printed to operators. */
  uiUrl: z.string().url().optional(),
  /** Keys the audit export's hash chain (HMAC-SHA256), so nobody without it can recompute a chain. */
  auditKey: z.string().min(16, 'use at least 16 characters (e.g. openssl rand -base64 32)').optional(),
  /** The codec endpoint the embedded server's Web UI calls to show encrypted payloads (platform/codec-server.ts). */
  uiCodecEndpoint: z.string().optional(),
  /** The caller's reviewer identity: used by the client and the CLI when a decision names no reviewer. */
  reviewer: z.string().min(1).optional(),
  /** The caller's Ed25519 private key (PEM file): the client signs decisions with it. */
  reviewerKeyFile: z.string().min(1).optional(),
  /** The worker's file of reviewers' public keys; unset: reviewer-keys.json in the data dir. */
  reviewerKeysFile: z.string().min(1).optional(),
  /** The worker's action outbox (SQLite); unset: outbox.sqlite in the data dir. Not used with databaseUrl (the receipts are in PostgreSQL). */
  outboxFile: z.string().min(1).optional(),
  /** The module (a .ts or .js file) whose factory the worker and the CLI use; unset: the built-in support factory. */
  factoryModule: z.string().min(1).optional(),
  /** A worker serves Prometheus metrics (the SDK's and Conveyor's job metrics) on http://<this>/metrics, `host:port`. */
  metricsAddress: z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:9464').optional(),
  /** An OTLP/HTTP traces endpoint (e.g. http://127.0.0.1:4318/v1/traces): workers and clients send their spans there. */
  otlpTracesUrl: z.string().url().optional(),
  /** A Redis the workers share, so each job metric is counted once across the fleet (unset: once per worker). */
  metricsRedisUrl: z.string().url().optional(),
  /** How many workflows a worker keeps cached (the SDK's sticky cache; its default when unset). */
  maxCachedWorkflows: z.coerce.number().int().nonnegative().optional(),
  /** The share of a worker's workflow-task polls on the task queue rather than its sticky queue (workers/worker.ts; default: the SDK's 0.2; 1 removes batches' stalls). */
  nonStickyPollRatio: z.coerce.number().gt(0, 'must be above 0 (a share of the polls, at most 1)').max(1, 'must be at most 1 (a share of the polls)').optional(),
  /** The built-in factory's actions go to this receiver as signed webhooks (unset: the local action log). */
  actionsWebhookUrl: z.string().url().optional(),
  /** The variable holding that webhook's `whsec_…` secret (read at each delivery, never logged). */
  actionsWebhookSecretEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a variable name').default('CONVEYOR_ACTIONS_WEBHOOK_SECRET'),
  /**
   * A PostgreSQL database every host shares (postgres://user:password@host:port/db): Conveyor's shared
   * state (action receipts, claims, observations, examples, cache, model files, the learning registry,
   * rate limits) lives there instead of under the data dir. Unset: the embedded SQLite files.
   */
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\/[^\s]+$/, 'expected postgres://user:password@host:port/database')
    .optional(),
});

export type ConveyorSettings = z.infer<typeof settingsSchema>;

export class InvalidSettingsError extends Error {
  override readonly name = 'InvalidSettingsError';
}

/** Reads settings from an environment (process.env by default); errors name the variable. */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): ConveyorSettings {
  const tlsWanted =
    env.TEMPORAL_TLS === 'true' ||
    Boolean(env.TEMPORAL_TLS_CLIENT_CERT_PATH || env.TEMPORAL_TLS_SERVER_CA_CERT_PATH || env.TEMPORAL_API_KEY);
  const raw = {
    address: env.TEMPORAL_ADDRESS || undefined,
    namespace: env.TEMPORAL_NAMESPACE || undefined,
    taskQueue: env.CONVEYOR_TASK_QUEUE || undefined,
    apiKey: env.TEMPORAL_API_KEY || undefined,
    encryption:
      env.CONVEYOR_ENCRYPTION_KEY_FILE || env.CONVEYOR_ENCRYPTION_KEY
        ? { keyFile: env.CONVEYOR_ENCRYPTION_KEY_FILE || undefined, key: env.CONVEYOR_ENCRYPTION_KEY || undefined, keyId: env.CONVEYOR_ENCRYPTION_KEY_ID || undefined }
        : undefined,
    tls: tlsWanted
      ? {
          clientCertPath: env.TEMPORAL_TLS_CLIENT_CERT_PATH || undefined,
          clientKeyPath: env.TEMPORAL_TLS_CLIENT_KEY_PATH || undefined,
          serverCaCertPath: env.TEMPORAL_TLS_SERVER_CA_CERT_PATH || undefined,
          serverName: env.TEMPORAL_TLS_SERVER_NAME || undefined,
        }
      : undefined,
    dataDir: path.resolve(env.CONVEYOR_DATA_DIR || '.conveyor'),
    embeddedGrpcPort: env.CONVEYOR_GRPC_PORT || undefined,
    embeddedUiPort: env.CONVEYOR_UI_PORT || undefined,
    uiUrl: env.CONVEYOR_UI_URL || undefined,
    auditKey: env.CONVEYOR_AUDIT_KEY || undefined,
    uiCodecEndpoint: env.CONVEYOR_UI_CODEC_ENDPOINT || undefined,
    reviewer: env.CONVEYOR_REVIEWER || undefined,
    reviewerKeyFile: env.CONVEYOR_REVIEWER_KEY_FILE || undefined,
    reviewerKeysFile: env.CONVEYOR_REVIEWER_KEYS_FILE || undefined,
    outboxFile: env.CONVEYOR_OUTBOX_FILE || undefined,
    factoryModule: env.CONVEYOR_FACTORY || undefined,
    // CONVEYOR_METRICS_PORT alone serves on the loopback interface; CONVEYOR_METRICS_ADDRESS names the host too.
    metricsAddress: env.CONVEYOR_METRICS_ADDRESS || (env.CONVEYOR_METRICS_PORT ? `127.0.0.1:${env.CONVEYOR_METRICS_PORT}` : undefined),
    maxCachedWorkflows: env.CONVEYOR_MAX_CACHED_WORKFLOWS || undefined,
    nonStickyPollRatio: env.CONVEYOR_NON_STICKY_POLL_RATIO || undefined,
    metricsRedisUrl: env.CONVEYOR_METRICS_REDIS_URL || undefined,
    // The OpenTelemetry exporter's standard variables turn tracing on as well (their headers apply too).
    otlpTracesUrl:
      env.CONVEYOR_OTLP_TRACES_URL ||
      env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ||
      (env.OTEL_EXPORTER_OTLP_ENDPOINT ? `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces` : undefined),
    actionsWebhookUrl: env.CONVEYOR_ACTIONS_WEBHOOK_URL || undefined,
    actionsWebhookSecretEnv: env.CONVEYOR_ACTIONS_WEBHOOK_SECRET_ENV || undefined,
    databaseUrl: env.CONVEYOR_DATABASE_URL || undefined,
  };
  const parsed = settingsSchema.safeParse(raw);
  if (!parsed.success) {
    const variableFor: Record<string, string> = {
      address: 'TEMPORAL_ADDRESS',
      namespace: 'TEMPORAL_NAMESPACE',
      taskQueue: 'CONVEYOR_TASK_QUEUE',
      embeddedGrpcPort: 'CONVEYOR_GRPC_PORT',
      embeddedUiPort: 'CONVEYOR_UI_PORT',
      uiUrl: 'CONVEYOR_UI_URL',
      auditKey: 'CONVEYOR_AUDIT_KEY',
      uiCodecEndpoint: 'CONVEYOR_UI_CODEC_ENDPOINT',
      reviewer: 'CONVEYOR_REVIEWER',
      reviewerKeyFile: 'CONVEYOR_REVIEWER_KEY_FILE',
      reviewerKeysFile: 'CONVEYOR_REVIEWER_KEYS_FILE',
      outboxFile: 'CONVEYOR_OUTBOX_FILE',
      factoryModule: 'CONVEYOR_FACTORY',
      metricsAddress: 'CONVEYOR_METRICS_ADDRESS (or CONVEYOR_METRICS_PORT)',
      maxCachedWorkflows: 'CONVEYOR_MAX_CACHED_WORKFLOWS',
      nonStickyPollRatio: 'CONVEYOR_NON_STICKY_POLL_RATIO',
      metricsRedisUrl: 'CONVEYOR_METRICS_REDIS_URL',
      otlpTracesUrl: 'CONVEYOR_OTLP_TRACES_URL (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT)',
      actionsWebhookUrl: 'CONVEYOR_ACTIONS_WEBHOOK_URL',
      actionsWebhookSecretEnv: 'CONVEYOR_ACTIONS_WEBHOOK_SECRET_ENV',
      databaseUrl: 'CONVEYOR_DATABASE_URL',
    };
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      return `${variableFor[key] ?? key}: ${issue.message}`;
    });
    throw new InvalidSettingsError(`Invalid Conveyor settings — ${problems.join('; ')}`);
  }
  return parsed.data;
}

/** The environment variables a worker container needs to reach a cluster (see docker-compose.yml). */
export const workerEnvironmentVariables = ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'CONVEYOR_TASK_QUEUE'] as const;
