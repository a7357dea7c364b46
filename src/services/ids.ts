import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** Prefixed random ids (`svi_…`, `hst_…`): 25 characters of Crockford base32, 125 bits. */
export function newId(prefix: 'svi' | 'hst'): string {
  const bytes = randomBytes(25);
  let out = '';
  for (const b of bytes) out += ALPHABET[b & 31];
  return `${prefix}_${out}`;
}

export function tableSuffix(): string {
  return randomBytes(2).toString('hex');
}
