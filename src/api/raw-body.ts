import { isUtf8 } from 'node:buffer';
import type { Context } from 'koa';
import getRawBody from 'raw-body';

export const MAX_BODY_BYTES = 1024 * 1024;
/** Deeper JSON is refused before it is parsed or stored (PostgreSQL's jsonb has its own, lower-level limit). */
export const MAX_JSON_DEPTH = 64;

const kBody = Symbol('hooksync.rawBody');

/**
 * Reads the request body as bytes (signatures are computed over the exact bytes) with `raw-body`,
 * which enforces the limit and checks Content-Length against what arrived, and refuses with a 4xx
 * what the API never takes: another content type or charset than JSON in UTF-8 (415), a body over
 * the limit (413), one cut short by the client (400), invalid UTF-8 or JSON nested deeper than
 * MAX_JSON_DEPTH (400). A request without a body gives an empty buffer. Read once per request;
 * later calls return the same bytes.
 */
export async function readRawBody(ctx: Context, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const state = ctx.state as { [kBody]?: Buffer };
  if (state[kBody]) return state[kBody];
  const body = await readChecked(ctx, limit);
  state[kBody] = body;
  return body;
}

async function readChecked(ctx: Context, limit: number): Promise<Buffer> {
  // type-is: null when the request carries no body at all. An empty one needs no type either.
  const json = ctx.request.is('application/json', 'application/*+json');
  if (json === null || ctx.get('content-length').trim() === '0') return Buffer.alloc(0);
  if (json === false) {
    ctx.throw(415, `the body must be JSON (Content-Type: application/json), not ${ctx.get('content-type') || 'untyped'}`, { code: 'unsupported_media_type' });
  }
  const charset = ctx.request.charset.toLowerCase();
  if (charset && charset !== 'utf-8' && charset !== 'utf8') {
    ctx.throw(415, `the body must be UTF-8, not ${charset}`, { code: 'unsupported_media_type' });
  }
  const declared = Number(ctx.get('content-length') || NaN);
  let body: Buffer;
  try {
    body = await getRawBody(ctx.req, { limit, length: Number.isNaN(declared) ? null : declared });
  } catch (err) {
    const e = err as { type?: string; received?: number };
    if (e.type === 'entity.too.large') {
      // Over the limit while reading: stop reading; the connection closes after the answer.
      if (!(declared > limit)) ctx.set('connection', 'close');
      ctx.throw(413, `request body over ${limit} bytes`, { code: 'body_too_large' });
    }
    if (e.type === 'request.size.invalid') {
      ctx.throw(400, `the request body has ${e.received} bytes, Content-Length says ${declared}`, { code: 'truncated_body' });
    }
    // The client went away or closed before the end: nothing of it is used.
    ctx.throw(400, 'the request body ended early (connection closed before Content-Length bytes arrived)', { code: 'truncated_body' });
  }
  if (!isUtf8(body)) ctx.throw(400, 'the body is not valid UTF-8', { code: 'invalid_utf8' });
  if (jsonDeeperThan(body, MAX_JSON_DEPTH)) ctx.throw(400, `the JSON body is nested deeper than ${MAX_JSON_DEPTH} levels`, { code: 'too_deep' });
  return body;
}

/** Nesting of objects and arrays, outside strings; a scan of the bytes, before any parsing. */
export function jsonDeeperThan(bytes: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}
