import type { Context } from 'koa';

export const MAX_BODY_BYTES = 1024 * 1024;

/** Reads the request body as bytes (signatures are computed over the exact bytes), up to a limit. */
export async function readRawBody(ctx: Context, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(ctx.get('content-length') || NaN);
  if (declared > limit) ctx.throw(413, `request body over ${limit} bytes`, { code: 'body_too_large' });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      // Stop reading; the connection closes after the answer.
      ctx.set('connection', 'close');
      ctx.throw(413, `request body over ${limit} bytes`, { code: 'body_too_large' });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}
