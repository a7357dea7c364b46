import { isSealed, KeyringError, type Keyring } from './keyring';
import type { SecretColumnName } from './columns';

/**
 * Sealing and opening a stored secret. The column and the row's id are bound to the sealed value
 * (additional authenticated data), so a value copied into another row or column does not open.
 * Without a keyring (no HOOKSYNC_ENCRYPTION_KEY) values are stored in clear, as before encryption
 * existed; processes refuse to run keyless once sealed values exist (see startup.ts).
 */

export const secretContext = (column: SecretColumnName, rowId: string) => `${column}:${rowId}`;

export function sealSecret(keyring: Keyring | undefined, column: SecretColumnName, rowId: string, plain: string): string {
  return keyring ? keyring.seal(plain, secretContext(column, rowId)) : plain;
}

export function openSecret(keyring: Keyring | undefined, column: SecretColumnName, rowId: string, stored: string): string {
  if (!isSealed(stored)) return stored;
  if (!keyring) throw new KeyringError(`${column} of ${rowId} is encrypted and HOOKSYNC_ENCRYPTION_KEY is not set`);
  return keyring.open(stored, secretContext(column, rowId));
}

export function openOptional(keyring: Keyring | undefined, column: SecretColumnName, rowId: string, stored: string | null): string | null {
  return stored === null ? null : openSecret(keyring, column, rowId, stored);
}
