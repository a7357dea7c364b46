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

/**
 * What can be an id at all: an id from a URL that is not (a NUL byte, invalid UTF-8, kilobytes)
 * is answered as unknown before it reaches PostgreSQL, which would refuse some of them with an error.
 */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,100}$/;
export const isWellFormedId = (id: string) => ID_PATTERN.test(id);
