/**
 * Payload encryption: a Temporal PayloadCodec that seals every payload (workflow and activity inputs
 * and results, memo, summaries, heartbeat details) with AES-256-GCM before it leaves the process, so
 * the Temporal server, its database and anyone reading histories without the key see only ciphertext.
 * Each payload carries the id of the key that sealed it, so keys rotate: new payloads use the current
 * key, old ones decode with whichever key of the keyring they name. Search attributes and headers are
 * not payloads the codec sees; Conveyor keeps them free of personal data (status, type, tier, cost).
 * No key configured means no codec: payloads stay plain JSON, as before.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { ConveyorSettings } from './settings';

export const encryptedEncoding = 'binary/encrypted';
export const encryptionKeyIdMetadata = 'encryption-key-id';

const keyLengthBytes = 32;
const ivLengthBytes = 12;
const authTagLengthBytes = 16;
const keyIdPattern = /^[A-Za-z0-9._:-]{1,64}$/;

/** The keyring or a key in it is unusable (wrong length, bad base64, unreadable file, missing current key). */
export class InvalidEncryptionKeyError extends Error {
  override readonly name = 'InvalidEncryptionKeyError';
}

/** A payload names a key id that is not in this process's keyring. */
export class EncryptionKeyNotFoundError extends Error {
  override readonly name = 'EncryptionKeyNotFoundError';
  constructor(readonly keyId: string) {
    super(`Payload was encrypted with key "${keyId}", which is not in the keyring. Add that key (CONVEYOR_ENCRYPTION_KEY_FILE "keys") to decode it.`);
  }
}

/** Authentication failed: the ciphertext, its key id or its IV were altered, or the key is not the one that sealed it. */
export class PayloadDecryptionError extends Error {
  override readonly name = 'PayloadDecryptionError';
}

export interface EncryptionKeyring {
  /** The id new payloads are sealed with. */
  currentKeyId: string;
  /** Every key that may still be needed to open old payloads, by id. */
  keys: ReadonlyMap<string, Buffer>;
}

/** Builds a keyring from base64 keys, checking ids and lengths. Messages name key ids, never key material. */
export function createKeyring(currentKeyId: string, base64Keys: Record<string, string>): EncryptionKeyring {
  const keys = new Map<string, Buffer>();
  for (const [keyId, base64] of Object.entries(base64Keys)) {
    if (!keyIdPattern.test(keyId)) {
      throw new InvalidEncryptionKeyError(`Encryption key id "${keyId}" is invalid: use 1–64 letters, digits, ".", "_", ":" or "-".`);
    }
    const key = Buffer.from(base64, 'base64');
    if (key.length !== keyLengthBytes || key.toString('base64').replace(/=+$/, '') !== base64.trim().replace(/=+$/, '')) {
      throw new InvalidEncryptionKeyError(
        `Encryption key "${keyId}" must be ${keyLengthBytes} bytes in base64 (got ${key.length} bytes). Generate one with: openssl rand -base64 32`,
      );
    }
    keys.set(keyId, key);
  }
  if (!keys.has(currentKeyId)) {
    throw new InvalidEncryptionKeyError(`The current encryption key "${currentKeyId}" is not in the keyring (${[...keys.keys()].join(', ') || 'no keys'}).`);
  }
  return { currentKeyId, keys };
}

const keyFileSchemaHint = '{ "current": "<key id>", "keys": { "<key id>": "<base64 of 32 bytes>" } }';

/**
 * The keyring configured in the environment, or undefined when encryption is off:
 * CONVEYOR_ENCRYPTION_KEY_FILE (a JSON keyring, for rotation), or CONVEYOR_ENCRYPTION_KEY with
 * CONVEYOR_ENCRYPTION_KEY_ID (one key; the id defaults to "default").
 */
export function loadKeyring(env: NodeJS.ProcessEnv = process.env): EncryptionKeyring | undefined {
  const keyFile = env.CONVEYOR_ENCRYPTION_KEY_FILE;
  if (keyFile) {
    if (env.CONVEYOR_ENCRYPTION_KEY) {
      throw new InvalidEncryptionKeyError('Set CONVEYOR_ENCRYPTION_KEY_FILE or CONVEYOR_ENCRYPTION_KEY, not both.');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(keyFile, 'utf8'));
    } catch (error) {
      const reason = error instanceof SyntaxError ? 'it is not valid JSON' : (error as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new InvalidEncryptionKeyError(`CONVEYOR_ENCRYPTION_KEY_FILE=${keyFile} cannot be read (${reason}); expected ${keyFileSchemaHint}.`);
    }
    const file = parsed as { current?: unknown; keys?: unknown };
    const keys = file.keys;
    if (
      typeof file.current !== 'string' ||
      keys === null ||
      typeof keys !== 'object' ||
      Array.isArray(keys) ||
      !Object.values(keys as Record<string, unknown>).every((value) => typeof value === 'string')
    ) {
      throw new InvalidEncryptionKeyError(`CONVEYOR_ENCRYPTION_KEY_FILE=${keyFile} has the wrong shape; expected ${keyFileSchemaHint}.`);
    }
    return createKeyring(file.current, keys as Record<string, string>);
  }
  if (env.CONVEYOR_ENCRYPTION_KEY) {
    const keyId = env.CONVEYOR_ENCRYPTION_KEY_ID || 'default';
    return createKeyring(keyId, { [keyId]: env.CONVEYOR_ENCRYPTION_KEY });
  }
  return undefined;
}

/** A fresh random key in base64, for tests and for `openssl rand -base64 32`-less setups. */
export function generateEncryptionKey(): string {
  return randomBytes(keyLengthBytes).toString('base64');
}

function text(bytes: Uint8Array | null | undefined): string | undefined {
  return bytes ? Buffer.from(bytes).toString('utf8') : undefined;
}

/**
 * Sealed payload layout: data = IV (12 bytes) ‖ ciphertext ‖ GCM tag (16 bytes); the plaintext is the
 * whole original payload (metadata and data) as protobuf; the key id is authenticated as associated
 * data, so relabelling a payload with another key id fails like tampering does.
 */
export class EncryptionCodec implements PayloadCodec {
  constructor(private readonly keyring: EncryptionKeyring) {}

  get currentKeyId(): string {
    return this.keyring.currentKeyId;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const keyId = this.keyring.currentKeyId;
    const key = this.keyring.keys.get(keyId)!;
    return payloads.map((payload) => {
      const iv = randomBytes(ivLengthBytes);
      const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: authTagLengthBytes });
      cipher.setAAD(Buffer.from(keyId, 'utf8'));
      const plaintext = temporal.api.common.v1.Payload.encode(payload).finish();
      const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: Buffer.from(encryptedEncoding),
          [encryptionKeyIdMetadata]: Buffer.from(keyId),
        },
        data: Buffer.concat([iv, ciphertext, cipher.getAuthTag()]),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== encryptedEncoding) return payload;
      const keyId = text(payload.metadata?.[encryptionKeyIdMetadata]);
      if (!keyId) throw new PayloadDecryptionError(`An encrypted payload has no "${encryptionKeyIdMetadata}" metadata.`);
      const key = this.keyring.keys.get(keyId);
      if (!key) throw new EncryptionKeyNotFoundError(keyId);
      const sealed = Buffer.from(payload.data ?? new Uint8Array());
      if (sealed.length < ivLengthBytes + authTagLengthBytes) {
        throw new PayloadDecryptionError(`An encrypted payload (key "${keyId}") is too short to be AES-256-GCM output.`);
      }
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, ivLengthBytes), { authTagLength: authTagLengthBytes });
      decipher.setAAD(Buffer.from(keyId, 'utf8'));
      decipher.setAuthTag(sealed.subarray(sealed.length - authTagLengthBytes));
      let plaintext: Buffer;
      try {
        plaintext = Buffer.concat([decipher.update(sealed.subarray(ivLengthBytes, sealed.length - authTagLengthBytes)), decipher.final()]);
      } catch {
        throw new PayloadDecryptionError(`An encrypted payload (key "${keyId}") failed authentication: it was altered, or sealed with a different key of the same id.`);
      }
      return temporal.api.common.v1.Payload.decode(plaintext);
    });
  }
}

/** The codec for the configured keyring, or undefined (plaintext payloads) when no key is configured. */
export function payloadCodecFromEnvironment(env: NodeJS.ProcessEnv = process.env): EncryptionCodec | undefined {
  const keyring = loadKeyring(env);
  return keyring ? new EncryptionCodec(keyring) : undefined;
}

/** The keyring the settings configure (settings.encryption), or undefined when encryption is off; errors name the variable. */
export function keyringFromSettings(settings: Pick<ConveyorSettings, 'encryption'>): EncryptionKeyring | undefined {
  const encryption = settings.encryption;
  if (!encryption) return undefined;
  return loadKeyring({ CONVEYOR_ENCRYPTION_KEY_FILE: encryption.keyFile, CONVEYOR_ENCRYPTION_KEY: encryption.key, CONVEYOR_ENCRYPTION_KEY_ID: encryption.keyId });
}

/** The codec for the settings' keyring, or undefined (plaintext payloads) when they configure none. */
export function payloadCodecFromSettings(settings: Pick<ConveyorSettings, 'encryption'>): EncryptionCodec | undefined {
  const keyring = keyringFromSettings(settings);
  return keyring ? new EncryptionCodec(keyring) : undefined;
}

const sealedTextPrefix = 'sealed:v1:';

/**
 * Seals a text at rest (the action log, when payload encryption is on) with the keyring's current key:
 * `sealed:v1:<key id>:<base64 of iv | AES-256-GCM ciphertext | tag>`, the key id authenticated.
 */
export function sealText(keyring: EncryptionKeyring, text: string): string {
  const keyId = keyring.currentKeyId;
  const iv = randomBytes(ivLengthBytes);
  const cipher = createCipheriv('aes-256-gcm', keyring.keys.get(keyId)!, iv, { authTagLength: authTagLengthBytes });
  cipher.setAAD(Buffer.from(keyId, 'utf8'));
  const sealed = Buffer.concat([iv, cipher.update(text, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${sealedTextPrefix}${keyId}:${sealed.toString('base64')}`;
}

/** Opens what sealText sealed; a text that was never sealed (written before encryption was on) comes back as it is. */
export function openText(keyring: EncryptionKeyring | undefined, stored: string): string {
  if (!stored.startsWith(sealedTextPrefix)) return stored;
  const [keyId, body] = [stored.slice(sealedTextPrefix.length, stored.lastIndexOf(':')), stored.slice(stored.lastIndexOf(':') + 1)];
  const key = keyring?.keys.get(keyId);
  if (!key) throw new EncryptionKeyNotFoundError(keyId);
  const sealed = Buffer.from(body, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, ivLengthBytes), { authTagLength: authTagLengthBytes });
  decipher.setAAD(Buffer.from(keyId, 'utf8'));
  decipher.setAuthTag(sealed.subarray(sealed.length - authTagLengthBytes));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(ivLengthBytes, sealed.length - authTagLengthBytes)), decipher.final()]).toString('utf8');
  } catch {
    throw new PayloadDecryptionError(`A sealed text (key "${keyId}") failed authentication: it was altered, or sealed with a different key of the same id.`);
  }
}
