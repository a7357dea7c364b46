'use strict';
const { Webhook, WebhookVerificationError } = require('standardwebhooks');
const { PageVerificationError } = require('./errors');

/**
 * Checks a POST as hooksync signs it (Standard Webhooks: `webhook-id`, `webhook-timestamp`,
 * `webhook-signature`), with the `standardwebhooks` package: the signature over the exact bytes,
 * under any of the secrets, and a timestamp within its 5 minutes of now.
 */

const HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature'];

/** `whsec_…` or an array of them (the new and the old one while a rotation overlaps). */
function webhooksOf(secrets) {
  const list = Array.isArray(secrets) ? secrets : [secrets];
  if (list.length === 0) throw new TypeError('hooksync/receiver: no signing secret given');
  return list.map((secret) => {
    if (typeof secret !== 'string' || !secret.startsWith('whsec_')) {
      throw new TypeError('hooksync/receiver: a signing secret is a string that starts with whsec_ (as `httpsync create` prints it)');
    }
    try {
      return new Webhook(secret);
    } catch {
      throw new TypeError('hooksync/receiver: a signing secret is whsec_ and base64 (as `httpsync create` prints it)');
    }
  });
}

/** One header from Node's headers object (lower-case keys, or any case in a plain object) or a Fetch `Headers`. */
function headerOf(headers, name) {
  if (!headers) return undefined;
  if (typeof headers.get === 'function') return headers.get(name) ?? undefined;
  let value = headers[name];
  if (value === undefined) {
    const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
    if (key !== undefined) value = headers[key];
  }
  return Array.isArray(value) ? value.join(' ') : value;
}

function textOf(rawBody) {
  if (typeof rawBody === 'string') return rawBody;
  if (rawBody instanceof Uint8Array) return Buffer.from(rawBody.buffer, rawBody.byteOffset, rawBody.byteLength).toString('utf8');
  if (rawBody instanceof ArrayBuffer) return Buffer.from(rawBody).toString('utf8');
  throw new TypeError('hooksync/receiver: the raw body must be a string, Buffer or Uint8Array (the bytes as they arrived, not parsed JSON)');
}

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The delivery contract: `{"rows", "integration_id", "integration_service", "table", "sync_timestamp"}`. */
function pageOf(text) {
  let page;
  try {
    page = JSON.parse(text);
  } catch {
    throw new PageVerificationError('invalid_page', 'the body is not JSON');
  }
  if (!isObject(page) || !Array.isArray(page.rows) || !page.rows.every(isObject)) {
    throw new PageVerificationError('invalid_page', 'the body is not a page: `rows` must be an array of objects');
  }
  for (const key of ['integration_id', 'integration_service', 'table', 'sync_timestamp']) {
    if (typeof page[key] !== 'string') throw new PageVerificationError('invalid_page', `the body is not a page: \`${key}\` must be a string`);
  }
  return page;
}

/** A verifier for fixed secrets (made once per receiver): `(rawBody, headers) → page`. */
function createVerifier(secrets) {
  const webhooks = webhooksOf(secrets);
  return (rawBody, headers) => {
    const text = textOf(rawBody);
    const signed = {};
    for (const name of HEADERS) {
      const value = headerOf(headers, name);
      if (!value) throw new PageVerificationError('missing_headers', `the ${name} header is missing`);
      signed[name] = value;
    }
    let failure;
    for (const webhook of webhooks) {
      try {
        webhook.verify(text, signed, { jsonParse: false });
        return pageOf(text);
      } catch (err) {
        if (!(err instanceof WebhookVerificationError)) throw err;
        failure = err;
        // The timestamp is the same for every secret: no other one can pass.
        if (/timestamp|Invalid Signature Headers/i.test(err.message)) break;
      }
    }
    if (/timestamp|Invalid Signature Headers/i.test(failure.message)) {
      throw new PageVerificationError('stale_timestamp', `webhook-timestamp is missing, unreadable or more than 5 minutes from now (${failure.message})`);
    }
    throw new PageVerificationError('bad_signature', 'webhook-signature does not match the body under any of the secrets');
  };
}

/** Verifies one POST; returns the page (the parsed body) or throws a PageVerificationError. */
function verifyPage(rawBody, headers, secrets) {
  return createVerifier(secrets)(rawBody, headers);
}

module.exports = { verifyPage, createVerifier, headerOf, textOf, pageOf };
