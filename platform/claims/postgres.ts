/**
 * The PostgreSQL claim store (`CONVEYOR_DATABASE_URL`): content as bytea under its sha256, for clients
 * and workers on hosts that share no files. A put of content already there changes nothing. With a
 * keyring the content is sealed at rest (store.ts).
 */
import type { EncryptionKeyring } from '../codec';
import { migratedDatabase, type Migration } from '../postgres';
import { readFileClaim } from './file';
import { sealedClaimContent, sha256Of, verifiedContent, type Claim, type ClaimStore } from './store';

export const CLAIMS_COMPONENT = 'claims';

export const claimMigrations: readonly Migration[] = [
  {
    version: 1,
    description: 'claim-checked content under its sha256',
    sql: `CREATE TABLE conveyor_claims (
      sha256 TEXT PRIMARY KEY,
      content BYTEA NOT NULL,
      bytes BIGINT NOT NULL,
      stored_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )`,
  },
];

export function postgresClaimStore(url: string, keyring?: EncryptionKeyring): ClaimStore {
  const { db, ready } = migratedDatabase(url, CLAIMS_COMPONENT, claimMigrations);
  return {
    kind: 'postgres',
    label: db.label,
    async put(content) {
      const sha256 = sha256Of(content);
      const bytes = sealedClaimContent(content, keyring);
      await (await ready()).query('INSERT INTO conveyor_claims (sha256, content, bytes) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING', [sha256, bytes, bytes.length]);
      return { store: 'postgres', sha256 };
    },
    async get(claim: Claim) {
      if ('file' in claim) return readFileClaim(claim, keyring);
      const found = await (await ready()).query<{ content: Buffer }>('SELECT content FROM conveyor_claims WHERE sha256 = $1', [claim.sha256]);
      return verifiedContent(claim, found.rows[0]?.content, `conveyor_claims in ${db.label}`, keyring);
    },
    close: () => db.close(),
  };
}
