/**
 * Claim checks: content too large for a workflow payload (a big batch's jobs) is stored outside the
 * history under its sha256 and passed by reference; the worker verifies the hash before using it. Two
 * stores keep it: a directory (the data dir's claims/, on one host or a shared volume; file.ts) and
 * PostgreSQL (`CONVEYOR_DATABASE_URL`, for hosts that share no files; postgres.ts). Both are
 * content-addressed: the same content is stored once, under the same reference. With payload encryption
 * on (a keyring), content is sealed at rest with it (`sealed:v1:<key id>:…`, platform/codec.ts) — a
 * batch's jobs hold what its histories encrypt — and its sha256 is the plain content's, checked after
 * opening; content stored before encryption was on is read as it is.
 */
import { createHash } from 'node:crypto';
import { EncryptionKeyNotFoundError, openText, PayloadDecryptionError, sealText, type EncryptionKeyring } from '../codec';

/** Payloads above this stay out of the history (Temporal warns at 512 KiB and refuses at 2 MiB). */
export const INLINE_PAYLOAD_LIMIT_BYTES = 256 * 1024;

export class ClaimCheckError extends Error {
  override readonly name = 'ClaimCheckError';
}

/** Content in a file of the file store: what every history from before the PostgreSQL store carries. */
export interface FileClaim {
  file: string;
  sha256: string;
}

/** Content in the PostgreSQL store, keyed by its sha256. */
export interface DatabaseClaim {
  store: 'postgres';
  sha256: string;
}

export type Claim = FileClaim | DatabaseClaim;

/** Where clients put claim-checked content and workers read it: the contract both stores keep (test/claims.test.ts). */
export interface ClaimStore {
  readonly kind: 'file' | 'postgres';
  /** Where the store keeps content, for messages: a directory, or the database without its password. */
  readonly label: string;
  /** Stores the content under its sha256 (idempotent: the same content is stored once). */
  put(content: string): Promise<Claim>;
  /**
   * The content a claim refers to, after checking its hash; ClaimCheckError when it is missing or changed.
   * Every store reads a file claim from its file, so batches started before a switch to PostgreSQL finish.
   */
  get(claim: Claim): Promise<string>;
  close(): Promise<void>;
}

export function sha256Of(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/** What a store writes for the content: sealed with the keyring's current key, or the content itself without one. */
export function sealedClaimContent(content: string, keyring: EncryptionKeyring | undefined): Buffer {
  return Buffer.from(keyring ? sealText(keyring, content) : content, 'utf8');
}

/** The content, opened with the keyring when it was sealed, once its hash is the claim's; `where` says where it was looked for. */
export function verifiedContent(claim: Claim, stored: Buffer | undefined, where: string, keyring?: EncryptionKeyring): string {
  if (stored === undefined) throw new ClaimCheckError(`claim ${claim.sha256} is missing from ${where}`);
  let content: string;
  try {
    content = openText(keyring, stored.toString('utf8'));
  } catch (error) {
    if (error instanceof EncryptionKeyNotFoundError) {
      throw new ClaimCheckError(`claim ${claim.sha256} at ${where} is sealed with encryption key "${error.keyId}", which this process does not have: configure the keys of the client that started the batch (CONVEYOR_ENCRYPTION_KEY[_FILE])`);
    }
    if (error instanceof PayloadDecryptionError) throw new ClaimCheckError(`claim ${claim.sha256} at ${where}: ${error.message}`);
    throw error;
  }
  const actual = sha256Of(content);
  if (actual !== claim.sha256) throw new ClaimCheckError(`claim ${claim.sha256} at ${where} has sha256 ${actual}: the content changed after it was stored`);
  return content;
}

// A batch request carries a claim as `jobsFile` (the file, or this reference) and `jobsSha256`: the shape
// recorded histories have, so the batch workflow passes a PostgreSQL claim on without knowing its store.
const databaseReference = /^postgres:conveyor_claims\/([0-9a-f]{64})$/;

/** The batch request's `jobsFile` and `jobsSha256` for a claim. */
export function batchReference(claim: Claim): { jobsFile: string; jobsSha256: string } {
  return 'file' in claim ? { jobsFile: claim.file, jobsSha256: claim.sha256 } : { jobsFile: `postgres:conveyor_claims/${claim.sha256}`, jobsSha256: claim.sha256 };
}

/** The claim a batch's `jobsFile` (and `jobsSha256`) refers to; undefined for a plain JSONL file, read as it is. */
export function claimOfBatch(jobsFile: string, jobsSha256?: string): Claim | undefined {
  const inDatabase = databaseReference.exec(jobsFile);
  if (inDatabase) {
    if (jobsSha256 !== undefined && jobsSha256 !== inDatabase[1]) throw new ClaimCheckError(`batch jobs ${jobsFile} name sha256 ${jobsSha256}, not the reference's own`);
    return { store: 'postgres', sha256: inDatabase[1]! };
  }
  return jobsSha256 ? { file: jobsFile, sha256: jobsSha256 } : undefined;
}
