import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRetryAfter } from '../../src/http/post-page';
import { RETRY_MAX_MS, retryDelayMs } from '../../src/workflows/httpsync-view';

test('backoff doubles from one second and stops at the cap', () => {
  assert.equal(retryDelayMs(1, undefined, 0.5), 1000);
  assert.equal(retryDelayMs(2, undefined, 0.5), 2000);
  assert.equal(retryDelayMs(5, undefined, 0.5), 16000);
  assert.equal(retryDelayMs(40, undefined, 0.99), RETRY_MAX_MS);
  // Jitter stays within ±20%.
  assert.equal(retryDelayMs(3, undefined, 0), 3200);
  assert.equal(retryDelayMs(3, undefined, 1), 4800);
});

test('a receiver\'s Retry-After wins, within the cap', () => {
  assert.equal(retryDelayMs(1, 30_000, 0.5), 30_000);
  assert.equal(retryDelayMs(1, 10 * 3600_000, 0.5), RETRY_MAX_MS);
});

test('Retry-After is read in seconds or as a date, for 429 and 503 only', () => {
  assert.equal(parseRetryAfter('7', 429), 7000);
  assert.equal(parseRetryAfter('7', 503), 7000);
  assert.equal(parseRetryAfter('7', 500), undefined);
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', 503, now), 30_000);
  assert.equal(parseRetryAfter('soon', 503), undefined);
  assert.equal(parseRetryAfter(undefined, 503), undefined);
});
