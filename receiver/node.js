'use strict';
const { createPageHandler } = require('./page-handler');

/**
 * The receiver as a node:http `(req, res)` handler (also Express's and Koa's `ctx.req, ctx.res`).
 * It verifies the bytes as they arrived: mount it where no JSON body parser runs first, or have
 * the parser keep them (`req.rawBody`, or `req.body` as a Buffer or string).
 */
function createReceiver({ maxBodyBytes = 64 * 1024 * 1024, ...options } = {}) {
  const handlePage = createPageHandler(options);

  return async function receiver(req, res) {
    let result;
    try {
      if (req.method !== 'POST') {
        result = { status: 405, body: { error: 'method_not_allowed' }, headers: { allow: 'POST' } };
      } else {
        const raw = await rawBodyOf(req, maxBodyBytes);
        result = raw === null ? { status: 413, body: { error: 'too_large' } } : await handlePage(raw, req.headers);
      }
    } catch (err) {
      console.error('hooksync/receiver:', err);
      result = { status: 500, body: { error: 'receiver_failed' } };
    }
    send(res, result);
  };
}

/** The body's bytes (null when larger than the limit), read here unless a framework kept them. */
async function rawBodyOf(req, limit) {
  for (const kept of [req.rawBody, req.body]) {
    if (typeof kept === 'string' || kept instanceof Uint8Array) return kept;
  }
  if (req.body !== undefined && req.readableEnded) {
    throw new Error('the request body was parsed before the receiver could verify it: mount the receiver before any JSON body parser');
  }
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    // Read to the end (so the answer reaches the client) but keep nothing more.
    if (size <= limit) chunks.push(chunk);
  }
  return size > limit ? null : Buffer.concat(chunks);
}

function send(res, { status, body, headers = {} }) {
  if (res.headersSent) return;
  if (body === null || body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

module.exports = { createReceiver };
