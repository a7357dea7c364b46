import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseRetryAfter } from '../../src/http/post-page';
import { boundDelayMs, DEFAULT_RETRY, retryDelayMs } from '../../src/contract/retry';

const CAP = DEFAULT_RETRY.maxMs;

test('backoff doubles from one second and stops at the cap, spread by ±20%', () => {
  assert.equal(retryDelayMs(1, undefined, 0.5), 1000);
  assert.equal(retryDelayMs(2, undefined, 0.5), 2000);
  assert.equal(retryDelayMs(5, undefined, 0.5), 16000);
  assert.equal(retryDelayMs(3, undefined, 0), 3200);
  assert.equal(retryDelayMs(3, undefined, 1), 4800);
  // At the cap the spread folds back below it instead of piling up on it.
  assert.equal(retryDelayMs(40, undefined, 0.5), CAP);
  assert.equal(retryDelayMs(40, undefined, 1), CAP * 0.8);
  assert.equal(retryDelayMs(40, undefined, 0), CAP * 0.8);
  // At the floor too: the first retry is never sooner than 1 s.
  assert.equal(retryDelayMs(1, undefined, 0), 1200);
});

test('a receiver\'s Retry-After is honoured, never earlier than asked, within floor and cap', () => {
  assert.equal(retryDelayMs(1, 30_000, 0), 30_000);
  assert.equal(retryDelayMs(1, 30_000, 1), 36_000);
  assert.equal(retryDelayMs(1, 10 * 3600_000, 0), CAP);
  // Retry-After: 0 (or a date in the past) would make a tight loop: at least a second, spread.
  assert.equal(retryDelayMs(1, 0, 0), 1000);
  assert.equal(retryDelayMs(9, 0, 1), 1200);
  assert.equal(retryDelayMs(1, -5_000, 0.5), 1100);
});

test('whatever comes in, the delay is within [1 s, 5 min], and at least what the receiver asked for up to the cap', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: -5, max: 10_000 }),
      fc.option(fc.oneof(fc.double({ noNaN: false }), fc.integer({ min: -1e9, max: 1e9 })), { nil: undefined }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (attempt, retryAfter, random) => {
        const d = retryDelayMs(attempt, retryAfter, random);
        assert.ok(Number.isInteger(d), `${d}`);
        assert.ok(d >= DEFAULT_RETRY.minMs && d <= CAP, `${d} for attempt ${attempt}, Retry-After ${retryAfter}`);
        if (retryAfter !== undefined && Number.isFinite(retryAfter) && retryAfter <= CAP / 1.2) assert.ok(d >= Math.round(retryAfter), `${d} < ${retryAfter}`);
      },
    ),
    { numRuns: 2000 },
  );
  assert.equal(boundDelayMs(0), 1000);
  assert.equal(boundDelayMs(Number.NaN), CAP);
  assert.equal(boundDelayMs(10 * CAP), CAP);
});

test('jitter spreads the delays of one attempt', () => {
  const delays = new Set(Array.from({ length: 50 }, (_, i) => retryDelayMs(4, undefined, i / 50)));
  assert.ok(delays.size > 40);
  const after = new Set(Array.from({ length: 50 }, (_, i) => retryDelayMs(1, 1000, i / 50)));
  assert.ok(after.size > 40 && Math.min(...after) >= 1000 && Math.max(...after) <= 1200);
});

test('Retry-After is read in seconds or as a date, for 429 and 503 only', () => {
  assert.equal(parseRetryAfter('7', 429), 7000);
  assert.equal(parseRetryAfter('7', 503), 7000);
  assert.equal(parseRetryAfter('7', 500), undefined);
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', 503, now), 30_000);
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:00 GMT', 503, now + 60_000), 0);
  assert.equal(parseRetryAfter('soon', 503), undefined);
  assert.equal(parseRetryAfter(undefined, 503), undefined);
});
