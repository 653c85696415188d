/**
 * Claim checks: content too large for a workflow payload (a big batch's jobs) is stored outside the
 * history under its sha256 and passed by reference; the worker verifies the hash before using it.
 * The claims directory must be shared by clients and workers (the data dir on one machine, a shared
 * volume across machines).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Payloads above this stay out of the history (Temporal warns at 512 KiB and refuses at 2 MiB). */
export const INLINE_PAYLOAD_LIMIT_BYTES = 256 * 1024;

export class ClaimCheckError extends Error {
  override readonly name = 'ClaimCheckError';
}

export interface Claim {
  file: string;
  sha256: string;
}

export function sha256Of(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/** Stores content under its hash (idempotent: the same content is one file). */
export function storeClaim(dir: string, content: string, extension = 'jsonl'): Claim {
  const sha256 = sha256Of(content);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${sha256}.${extension}`);
  if (!fs.existsSync(file)) {
    const staging = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(staging, content);
    fs.renameSync(staging, file);
  }
  return { file, sha256 };
}

/** Throws ClaimCheckError when the file is missing or its content does not match the hash. */
export function verifyClaim(claim: Claim): void {
  if (!fs.existsSync(claim.file)) throw new ClaimCheckError(`claim ${claim.sha256} is missing: ${claim.file} does not exist on this worker`);
  const actual = sha256Of(fs.readFileSync(claim.file));
  if (actual !== claim.sha256) throw new ClaimCheckError(`claim ${claim.file} has sha256 ${actual}, expected ${claim.sha256}: the file changed after it was stored`);
}
