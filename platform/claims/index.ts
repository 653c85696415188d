/**
 * Claim checks (store.ts): the store a client or worker uses — PostgreSQL when the settings have a
 * database URL (hosts that share no files), else the claims/ directory of the data dir; sealed at rest
 * with the settings' encryption keys when they have any.
 */
import path from 'node:path';
import { keyringFromSettings } from '../codec';
import type { ConveyorSettings } from '../settings';
import { fileClaimStore } from './file';
import { postgresClaimStore } from './postgres';
import type { ClaimStore } from './store';

export * from './store';
export { fileClaimStore, readFileClaim, storeClaim } from './file';
export { claimMigrations, CLAIMS_COMPONENT, postgresClaimStore } from './postgres';

export function openClaimStore(settings: Pick<ConveyorSettings, 'databaseUrl' | 'dataDir' | 'encryption'>): ClaimStore {
  const keyring = keyringFromSettings(settings);
  return settings.databaseUrl ? postgresClaimStore(settings.databaseUrl, keyring) : fileClaimStore(path.join(settings.dataDir, 'claims'), keyring);
}
