/**
 * Opens connections to Temporal from settings: the client side (CLI, typed client) and the
 * worker side (native connection). TLS and API keys apply the same way to both, and so does payload
 * encryption: the client gets the codec its settings configure (settings.encryption, platform/codec.ts).
 */
import fs from 'node:fs';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import { payloadCodecFromSettings } from './codec';
import { installRuntimeLogging } from './logging';
import type { ConveyorSettings } from './settings';
import { installTracing, tracingClientInterceptor } from './tracing';

function tlsOptions(settings: ConveyorSettings) {
  if (!settings.tls) return undefined;
  const { clientCertPath, clientKeyPath, serverCaCertPath, serverName } = settings.tls;
  return {
    clientCertPair:
      clientCertPath && clientKeyPath
        ? { crt: fs.readFileSync(clientCertPath), key: fs.readFileSync(clientKeyPath) }
        : undefined,
    serverRootCACertificate: serverCaCertPath ? fs.readFileSync(serverCaCertPath) : undefined,
    serverNameOverride: serverName,
  };
}

export function connectionOptions(settings: ConveyorSettings, address: string): ConnectionOptions & NativeConnectionOptions {
  return { address, tls: tlsOptions(settings), apiKey: settings.apiKey };
}

export interface ClientConnectOptions {
  /** undefined: the codec the settings configure (none without a key); null: plain payloads. */
  payloadCodec?: PayloadCodec | null;
}

export async function connectClient(settings: ConveyorSettings, address: string, options: ClientConnectOptions = {}): Promise<Client> {
  const codec = options.payloadCodec === undefined ? payloadCodecFromSettings(settings) : options.payloadCodec;
  const connection = await Connection.connect(connectionOptions(settings, address));
  // With tracing on, a job's trace starts at the client that starts it.
  if (settings.otlpTracesUrl) installTracing(settings.otlpTracesUrl, 'conveyor-client');
  return new Client({
    connection,
    namespace: settings.namespace,
    ...(codec ? { dataConverter: { payloadCodecs: [codec] } } : {}),
    ...(settings.otlpTracesUrl ? { interceptors: { workflow: [tracingClientInterceptor()] } } : {}),
  });
}

export async function connectWorkerConnection(settings: ConveyorSettings, address: string): Promise<NativeConnection> {
  installRuntimeLogging();
  return NativeConnection.connect(connectionOptions(settings, address));
}
