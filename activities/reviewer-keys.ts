/**
 * Signed decisions (opt-in): the reviewers' Ed25519 public keys, read by the worker from
 * `<dataDir>/reviewer-keys.json` (or CONVEYOR_REVIEWER_KEYS_FILE) as `{ "alice": "<PEM or base64 SPKI>" }`,
 * and the signature check. Both run as local activities: the workflow sandbox has no node:crypto, so a
 * signed decision is accepted by the update's validator only when it carries a signature by a reviewer
 * with a key, and counts only once the handler has verified that signature here.
 */
import { createPublicKey, verify } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface ReviewerKeyActivities {
  loadReviewerKeys(): Promise<Record<string, string>>;
  verifyDecisionSignature(request: { publicKey: string; text: string; signature: string }): Promise<boolean>;
}

function publicKeyOf(text: string) {
  return text.includes('BEGIN') ? createPublicKey(text) : createPublicKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'spki' });
}

/** `keysFile` is the settings' reviewerKeysFile (CONVEYOR_REVIEWER_KEYS_FILE); unset, the data dir's reviewer-keys.json. */
export function createReviewerKeyActivities({ dataDir, keysFile }: { dataDir: string; keysFile?: string }): ReviewerKeyActivities {
  const file = keysFile ?? path.join(dataDir, 'reviewer-keys.json');
  return {
    async loadReviewerKeys() {
      if (!fs.existsSync(file)) return {};
      const keys = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>;
      for (const key of Object.values(keys)) publicKeyOf(key); // a bad key fails here, loudly, not at the first decision
      return keys;
    },
    async verifyDecisionSignature({ publicKey, text, signature }) {
      try {
        return verify(null, Buffer.from(text), publicKeyOf(publicKey), Buffer.from(signature, 'base64'));
      } catch {
        return false;
      }
    },
  };
}
