import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Secrets at rest (webhook secrets, receivers' credentials, signing secrets, upstream API keys):
 * AES-256-GCM under HOOKSYNC_ENCRYPTION_KEY. A sealed value names the key that sealed it, so
 * several keys can be accepted at once while one replaces another.
 *
 * Sealed form: `enc:v1:<key id>:<base64url of iv (12 bytes) | ciphertext | tag (16 bytes)>`.
 * The key id is the first 12 hex digits of the key's SHA-256: it names a key, it reveals nothing.
 * An optional context (e.g. `sync_targets.url:hst_…`) is bound as additional authenticated data,
 * so a sealed value copied into another row or column does not open there.
 */

const PREFIX = 'enc:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class KeyringError extends Error {
  override name = 'KeyringError';
}

export interface Keyring {
  /** The id of the key that seals new values (the first one given). */
  readonly currentKeyId: string;
  /** Every key id accepted for opening, the current one first. */
  readonly keyIds: readonly string[];
  seal(plain: string, context?: string): string;
  /** Throws a KeyringError when the value was sealed under a key this keyring lacks, or was altered. */
  open(sealed: string, context?: string): string;
  /** The id of the key a sealed value names; undefined for a value that is not sealed. */
  keyIdOf(value: string): string | undefined;
}

export const keyId = (key: Buffer): string => createHash('sha256').update(key).digest('hex').slice(0, 12);

export const isSealed = (value: string): boolean => value.startsWith(PREFIX);

/** A new random key, as HOOKSYNC_ENCRYPTION_KEY takes it (base64 of 32 bytes). */
export const generateKey = (): string => randomBytes(32).toString('base64');

/** One key: base64 (standard or url-safe) of exactly 32 bytes. */
export function parseKey(text: string): Buffer {
  const t = text.trim();
  const key = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(t) || key.length !== 32) {
    throw new KeyringError('HOOKSYNC_ENCRYPTION_KEY must be base64 of 32 bytes (e.g. `openssl rand -base64 32`); several keys are comma-separated, the first one seals');
  }
  return key;
}

/** `new,old,…`: the first key seals, all of them open. */
export function createKeyring(spec: string): Keyring {
  const keys = spec
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean)
    .map(parseKey);
  if (keys.length === 0) throw new KeyringError('HOOKSYNC_ENCRYPTION_KEY is empty');
  const byId = new Map<string, Buffer>();
  for (const k of keys) byId.set(keyId(k), k);
  const current = keys[0]!;
  const currentKeyId = keyId(current);

  const keyIdOf = (value: string) => (isSealed(value) ? value.slice(PREFIX.length).split(':', 1)[0] : undefined);

  return {
    currentKeyId,
    keyIds: [...byId.keys()],
    keyIdOf,
    seal(plain, context = '') {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current, iv);
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const body = Buffer.concat([iv, cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `${PREFIX}${currentKeyId}:${body.toString('base64url')}`;
    },
    open(sealed, context = '') {
      const id = keyIdOf(sealed);
      if (id === undefined) throw new KeyringError('the value is not sealed (it was stored before encryption was set up?)');
      const key = byId.get(id);
      if (!key) throw new KeyringError(`the value is sealed under key ${id}, which HOOKSYNC_ENCRYPTION_KEY does not hold (accepted: ${[...byId.keys()].join(', ')})`);
      const body = Buffer.from(sealed.slice(PREFIX.length + id.length + 1), 'base64url');
      if (body.length < IV_BYTES + TAG_BYTES) throw new KeyringError('the sealed value is cut short');
      const decipher = createDecipheriv('aes-256-gcm', key, body.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      try {
        return Buffer.concat([decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch {
        throw new KeyringError('the sealed value does not open: altered, or sealed for another row');
      }
    },
  };
}
