'use strict';
const { PageVerificationError } = require('./errors');
const { memoryStore } = require('./memory-store');
const { createVerifier, headerOf, pageOf, textOf } = require('./verify');

/**
 * What a receiver answers a POST, whatever the server: `(rawBody, headers) → { status, body }`.
 * The adapters for node:http and for Fetch only move bytes in and out.
 */
function createPageHandler({ secrets, onPage, store = memoryStore(), onError = logError } = {}) {
  if (typeof onPage !== 'function') throw new TypeError('hooksync/receiver: onPage must be a function');
  if (!store || typeof store.once !== 'function') throw new TypeError('hooksync/receiver: store must have once(pageId, process)');
  const verify = createVerifier(secrets);

  return async function handlePage(rawBody, headers) {
    let page;
    try {
      page = verify(rawBody, headers);
    } catch (err) {
      if (!(err instanceof PageVerificationError)) throw err;
      // `httpsync create` checks the endpoint with an empty page signed by the secret it is about to
      // print, which this receiver cannot know yet. An empty page changes nothing: answer it.
      if (err.status === 401 && isEmptyPage(rawBody)) return { status: 200, body: null };
      return { status: err.status, body: { error: err.reason, message: err.message } };
    }
    if (page.rows.length === 0) return { status: 200, body: null };

    const pageId = headerOf(headers, 'webhook-id');
    try {
      const outcome = await store.once(pageId, (client) => onPage(page, { pageId, client }));
      return { status: outcome === 'duplicate' ? 200 : 204, body: null };
    } catch (err) {
      onError(err, { pageId });
      // The page comes again; what went wrong stays in your logs, not in hooksync's.
      return { status: 500, body: { error: 'processing_failed' } };
    }
  };
}

function isEmptyPage(rawBody) {
  try {
    return pageOf(textOf(rawBody)).rows.length === 0;
  } catch {
    return false;
  }
}

function logError(err, { pageId }) {
  console.error(`hooksync/receiver: onPage failed for page ${pageId} (answered 500; it comes again):`, err);
}

module.exports = { createPageHandler };
