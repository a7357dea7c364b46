'use strict';
const { createPageHandler } = require('./page-handler');

/**
 * The receiver for runtimes of `Request → Response`: a Next.js route handler
 * (`export const POST = createFetchHandler(…)`), Deno.serve, Bun.serve, Cloudflare Workers.
 */
function createFetchHandler({ maxBodyBytes = 64 * 1024 * 1024, ...options } = {}) {
  const handlePage = createPageHandler(options);

  return async function fetchHandler(request) {
    if (request.method !== 'POST') return json(405, { error: 'method_not_allowed' }, { allow: 'POST' });
    const raw = new Uint8Array(await request.arrayBuffer());
    if (raw.byteLength > maxBodyBytes) return json(413, { error: 'too_large' });
    try {
      const { status, body } = await handlePage(raw, request.headers);
      return body === null ? new Response(null, { status }) : json(status, body);
    } catch (err) {
      console.error('hooksync/receiver:', err);
      return json(500, { error: 'receiver_failed' });
    }
  };
}

const json = (status, body, headers = {}) => new Response(JSON.stringify(body), { status, headers: { ...headers, 'content-type': 'application/json' } });

module.exports = { createFetchHandler };
