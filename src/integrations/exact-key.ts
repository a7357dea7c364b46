import { isLosslessNumber, parse } from 'lossless-json';
import { resolvePointer } from './json-pointer';

/**
 * The remote key at `pointer`, as text with every digit: a string as it is, an integer as written.
 * JSON.parse turns an integer beyond 2^53 into the nearest double (Shopify's ids are 64-bit), so
 * such a key is read again from the raw text by a parser that keeps numbers as their digits; only
 * then, so an ordinary event is parsed once. Undefined when there is no key; null when what is
 * there is no string or integer.
 */
export function exactKey(body: unknown, rawBody: string | undefined, pointer: string): string | null | undefined {
  const v = resolvePointer(body, pointer);
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v !== 'number') return null;
  if (Number.isSafeInteger(v)) return String(v);
  if (rawBody === undefined || !Number.isInteger(v)) return null;
  let exact: unknown;
  try {
    exact = resolvePointer(parse(rawBody), pointer);
  } catch {
    return null;
  }
  return isLosslessNumber(exact) && /^-?\d+$/.test(exact.value) ? exact.value : null;
}
