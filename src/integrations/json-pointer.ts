/** RFC 6901 JSON pointers: `/data/object` → ['data', 'object'] (`~1` is `/`, `~0` is `~`); '' is the whole document. */

export class JsonPointerError extends Error {
  override name = 'JsonPointerError';
}

export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new JsonPointerError(`a JSON pointer starts with "/": ${JSON.stringify(pointer)}`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~[^01]|~$/.test(token)) throw new JsonPointerError(`bad escape in JSON pointer ${JSON.stringify(pointer)}`);
      return token.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

/** The value at `pointer` in a parsed document, or undefined when there is none. */
export function resolvePointer(doc: unknown, pointer: string): unknown {
  let at: unknown = doc;
  for (const token of parsePointer(pointer)) {
    if (Array.isArray(at)) {
      if (!/^(0|[1-9]\d*)$/.test(token)) return undefined;
      at = at[Number(token)];
    } else if (at !== null && typeof at === 'object' && Object.prototype.hasOwnProperty.call(at, token)) {
      at = (at as Record<string, unknown>)[token];
    } else {
      return undefined;
    }
  }
  return at;
}

/** Sets the value at `pointer` in `doc`, making the objects (or, for index tokens, arrays) on the way. */
export function setPointer(doc: Record<string, unknown>, pointer: string, value: unknown): void {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) throw new JsonPointerError('cannot set the whole document');
  let at: Record<string, unknown> = doc;
  tokens.forEach((token, i) => {
    if (i === tokens.length - 1) {
      at[token] = value;
      return;
    }
    const next = at[token];
    if (next === null || typeof next !== 'object') at[token] = /^(0|[1-9]\d*)$/.test(tokens[i + 1]!) ? [] : {};
    at = at[token] as Record<string, unknown>;
  });
}
