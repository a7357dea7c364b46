import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Context } from 'koa';
import type pg from 'pg';
import { tokenMatcher } from '../../src/api/auth';
import { createRateLimiter } from '../../src/api/rate-limit';
import { jsonDeeperThan } from '../../src/api/raw-body';
import { ConfigError, loadConfig } from '../../src/config';
import { parseListen } from '../../src/metrics-server';

const env = { DATABASE_URL: 'postgres://x@127.0.0.1/x' };

describe('HOOKSYNC_METRICS_PORT', () => {
  test('a port binds 127.0.0.1; host:port binds that host; unset or empty is off', () => {
    assert.deepEqual(parseListen('9464'), { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(parseListen('0.0.0.0:9464'), { host: '0.0.0.0', port: 9464 });
    assert.deepEqual(parseListen('[::]:9100'), { host: '::', port: 9100 });
    assert.deepEqual(parseListen(' metrics.internal:1 '), { host: 'metrics.internal', port: 1 });
    assert.equal(parseListen(undefined), undefined);
    assert.equal(parseListen(''), undefined);
    for (const bad of ['70000', 'x', ':9464', '1.2.3.4:', '1.2.3.4:99999']) assert.throws(() => parseListen(bad), /not a port/, bad);
    assert.throws(() => loadConfig({ ...env, HOOKSYNC_METRICS_PORT: 'nine' }), (e: Error) => e instanceof ConfigError && /HOOKSYNC_METRICS_PORT/.test(e.message));
    assert.deepEqual(loadConfig({ ...env, HOOKSYNC_METRICS_PORT: '9464' }).HOOKSYNC_METRICS_PORT, { host: '127.0.0.1', port: 9464 });
  });
});

describe('HOOKSYNC_ALLOWED_TARGET_HOSTS in the config', () => {
  test('parsed at start-up; a bad entry stops it with the entry named', () => {
    const allow = loadConfig({ ...env, HOOKSYNC_ALLOWED_TARGET_HOSTS: 'receiver.internal,10.0.0.0/8' }).HOOKSYNC_ALLOWED_TARGET_HOSTS;
    assert.deepEqual([...allow.names], ['receiver.internal']);
    assert.equal(loadConfig(env).HOOKSYNC_ALLOWED_TARGET_HOSTS.source, '');
    assert.throws(() => loadConfig({ ...env, HOOKSYNC_ALLOWED_TARGET_HOSTS: '10.0.0.0/99' }), (e: Error) => e instanceof ConfigError && /10\.0\.0\.0\/99/.test(e.message));
  });
});

describe('JSON depth, by a scan of the bytes', () => {
  const bytes = (s: string) => Buffer.from(s);
  test('counts objects and arrays, not brackets in strings or escaped quotes', () => {
    assert.equal(jsonDeeperThan(bytes('{"a":[{"b":[1]}]}'), 4), false);
    assert.equal(jsonDeeperThan(bytes('{"a":[{"b":[1]}]}'), 3), true);
    assert.equal(jsonDeeperThan(bytes(`{"s":"${'['.repeat(100)}"}`), 1), false);
    assert.equal(jsonDeeperThan(bytes(`{"s":"\\"${'{'.repeat(100)}"}`), 1), false);
    assert.equal(jsonDeeperThan(bytes('[' + '[]'.repeat(1000) + ']'), 2), false, 'siblings are not depth');
  });
});

describe('management API tokens', () => {
  const matches = tokenMatcher(' first-token-0123456789 ,second-token-abcdefgh,')!;
  test('any listed token, as a Bearer credential; nothing else', () => {
    assert.equal(matches('Bearer first-token-0123456789'), true);
    assert.equal(matches('bearer   second-token-abcdefgh'), true);
    for (const h of ['', 'Bearer', 'Bearer first-token-012345678', 'Bearer first-token-0123456789x', 'Basic first-token-0123456789', 'first-token-0123456789', 'Bearer a b']) {
      assert.equal(matches(h), false, h);
    }
    assert.equal(tokenMatcher(undefined), undefined);
    assert.equal(tokenMatcher(' , '), undefined);
  });
});

describe('the rate limit: a token bucket per integration', () => {
  test('one second worth of events at once, then one per 1/rate seconds, with the wait in Retry-After', async () => {
    let now = 1_000_000;
    let queries = 0;
    const pool = { query: async () => (queries++, { rows: [{ rate_limit_per_second: 2 }] }) } as unknown as pg.Pool;
    const limiter = createRateLimiter(pool, () => now);
    const attempt = async () => {
      const headers: Record<string, string> = {};
      const ctx = { set: (k: string, v: string) => (headers[k] = v) } as unknown as Context & { status?: number; body?: any };
      const refused = await limiter.refuse(ctx, 'svi_a');
      return { refused, retryAfter: headers['retry-after'], ctx };
    };
    assert.equal((await attempt()).refused, false);
    assert.equal((await attempt()).refused, false);
    const third = await attempt();
    assert.equal(third.refused, true);
    assert.equal(third.retryAfter, '1');
    assert.equal(third.ctx.status, 429);
    assert.equal(third.ctx.body.code, 'rate_limited');
    now += 500; // half a second: one more token
    assert.equal((await attempt()).refused, false);
    assert.equal((await attempt()).refused, true);
    now += 10_000; // long idle: the bucket is full again, not fuller
    assert.deepEqual([(await attempt()).refused, (await attempt()).refused, (await attempt()).refused], [false, false, true]);
    assert.ok(queries <= 2, `the limit is read from the database at most every 5 s (${queries} reads)`);
  });

  test('a slow rate waits longer; no limit and an unknown integration are never refused', async () => {
    let limit: number | null = 0.1;
    const pool = { query: async () => ({ rows: limit === undefined ? [] : [{ rate_limit_per_second: limit }] }) } as unknown as pg.Pool;
    const headers: Record<string, string> = {};
    const ctx = { set: (k: string, v: string) => (headers[k] = v) } as unknown as Context;
    const limiter = createRateLimiter(pool, () => 0);
    assert.equal(await limiter.refuse(ctx, 'svi_slow'), false);
    assert.equal(await limiter.refuse(ctx, 'svi_slow'), true);
    assert.equal(headers['retry-after'], '10');
    limit = null;
    for (let i = 0; i < 50; i++) assert.equal(await limiter.refuse(ctx, 'svi_free'), false);
  });
});
