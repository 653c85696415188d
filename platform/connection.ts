/**
 * Opens connections to Temporal from settings: the client side (CLI, typed client) and the
 * worker side (native connection). TLS and API keys apply the same way to both.
 */
import fs from 'node:fs';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import { installRuntimeLogging } from './logging';
import type { ConveyorSettings } from './settings';

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

export async function connectClient(settings: ConveyorSettings, address: string): Promise<Client> {
  const connection = await Connection.connect(connectionOptions(settings, address));
  return new Client({ connection, namespace: settings.namespace });
}

export async function connectWorkerConnection(settings: ConveyorSettings, address: string): Promise<NativeConnection> {
  installRuntimeLogging();
  return NativeConnection.connect(connectionOptions(settings, address));
}
