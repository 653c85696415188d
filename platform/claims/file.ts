/**
 * The file claim store: content under its sha256 in a directory (`$CONVEYOR_DATA_DIR/claims/` by
 * default), which clients and workers must share (one host, or a shared volume).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { EncryptionKeyring } from '../codec';
import { ClaimCheckError, sealedClaimContent, sha256Of, verifiedContent, type Claim, type ClaimStore, type FileClaim } from './store';

/** Stores content under its hash (idempotent: the same content is one file), sealed with the keyring when there is one. */
export function storeClaim(dir: string, content: string, extension = 'jsonl', keyring?: EncryptionKeyring): FileClaim {
  const sha256 = sha256Of(content);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${sha256}.${extension}`);
  if (!fs.existsSync(file)) {
    const staging = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(staging, sealedClaimContent(content, keyring));
    fs.renameSync(staging, file);
  }
  return { file, sha256 };
}

/** A file claim's content, opened and verified: the file the claim names, wherever it was stored. */
export function readFileClaim(claim: FileClaim, keyring?: EncryptionKeyring): string {
  return verifiedContent(claim, fs.existsSync(claim.file) ? fs.readFileSync(claim.file) : undefined, claim.file, keyring);
}

/** The claims/ directory store; `keyring`: seal content at rest with it (payload encryption on). */
export function fileClaimStore(dir: string, keyring?: EncryptionKeyring): ClaimStore {
  return {
    kind: 'file',
    label: dir,
    put: async (content) => storeClaim(dir, content, 'jsonl', keyring),
    get: async (claim: Claim) => {
      if ('file' in claim) return readFileClaim(claim, keyring);
      throw new ClaimCheckError(
        `claim ${claim.sha256} is in PostgreSQL (postgres:conveyor_claims/${claim.sha256}), and this process keeps claims in ${dir}: set CONVEYOR_DATABASE_URL to the database of the client that started the batch`,
      );
    },
    close: async () => {},
  };
}
