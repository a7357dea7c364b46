import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { findDescriptor, registerIntegration } from '../src/integrations';
import { createIntegration, type IntegrationView } from '../src/services/integrations';
import { buildTestEvent } from '../src/services/test-event';
import { startStack, waitFor, type Stack } from './support/harness';
import { runCli, stackEnv, WEBHOOK_SECRET, type CliResult } from './support/httpsync';
import { deliver, fakeDescriptor, fakeUpstream } from './support/upstreams';

/**
 * `hooksync integrations send-test-event`: for every upstream a correctly signed sample event
 * reaches the webhook endpoint and changes a row, each call a newer version; through the API
 * (HOOKSYNC_API_URL, where only the API can open the secret) and in this process alike.
 */

registerIntegration(fakeDescriptor);

const TOKEN = 'test-event-token-0123456789';
const GITHUB_SECRET = 'github test-event secret';
const STANDARD_SECRET = 'whsec_' + Buffer.from('standard webhooks test-event secret').toString('base64');

describe('integrations send-test-event', () => {
  let stack: Stack;
  const made: Record<string, IntegrationView> = {};

  before(async () => {
    stack = await startStack({ env: { HOOKSYNC_API_TOKEN: TOKEN } });
    const create = (service: string, webhookSecret: string | undefined, options?: Record<string, string>) => createIntegration(stack.deps, { service, webhookSecret, options });
    made.stripe_customer_v1 = await create('stripe_customer_v1', WEBHOOK_SECRET);
    made.github_issue_v1 = await create('github_issue_v1', GITHUB_SECRET);
    made.standard_webhooks_v1 = await create('standard_webhooks_v1', STANDARD_SECRET, { remote_key: '/data/id', timestamp: '/data/updated_at', deleted: '/data/deleted' });
    made.fake_thing_v1 = await create('fake_thing_v1', fakeUpstream.secret);
    made.no_secret = await create('stripe_customer_v1', undefined);
  });
  after(() => stack?.close());

  const remoteEnv = (): NodeJS.ProcessEnv => ({ ...stackEnv(stack), HOOKSYNC_API_URL: stack.apiUrl, HOOKSYNC_API_TOKEN: TOKEN });
  const localEnv = (port: string): NodeJS.ProcessEnv => ({ ...stackEnv(stack), PORT: port, HOOKSYNC_ENCRYPTION_KEY: stack.config.HOOKSYNC_ENCRYPTION_KEY });
  const ok = (r: CliResult) => {
    assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  };

  /** The row of `key` once it has the version after `after` (ms), read as the table holds it. */
  async function rowNewerThan(i: IntegrationView, key: string, after: number): Promise<{ at: number; deleted: boolean }> {
    const d = findDescriptor(i.service)!;
    return waitFor(
      async () => {
        const { rows } = await stack.pool.query<{ at: Date; deleted: boolean }>(
          `SELECT "${d.timestampColumn}" AS at, deleted FROM "${i.table}" WHERE "${d.remoteKeyColumn}" = $1`,
          [key],
        );
        const row = rows[0];
        return row && row.at.getTime() > after ? { at: row.at.getTime(), deleted: row.deleted } : undefined;
      },
      { what: `a version of ${key} in ${i.table} newer than ${after}` },
    );
  }

  for (const service of ['stripe_customer_v1', 'github_issue_v1', 'standard_webhooks_v1']) {
    test(`${service}: through the API, each call is accepted and makes a newer version of the row; --deleted deletes it`, async () => {
      const i = made[service]!;
      const send = async (...extra: string[]) => JSON.parse(ok(await runCli(['integrations', 'send-test-event', i.id, '--json', '--yes', ...extra], { env: remoteEnv() })).stdout);
      const first = await send();
      assert.deepEqual(Object.keys(first).sort(), ['key', 'status']);
      assert.equal(first.status, 200);
      const v1 = await rowNewerThan(i, first.key, 0);
      assert.equal(v1.deleted, false);
      // At once again, within the same second: still a newer version.
      const second = await send();
      assert.equal(second.key, first.key);
      const v2 = await rowNewerThan(i, first.key, v1.at);
      const gone = await send('--deleted');
      assert.equal(gone.status, 200);
      assert.equal((await rowNewerThan(i, first.key, v2.at)).deleted, true);
      const other = await send('--key', '4242');
      assert.equal(other.key, '4242');
      await rowNewerThan(i, '4242', 0);
    });
  }

  test('the fake upstream: its test event passes its own check at the webhook endpoint', async () => {
    const i = made.fake_thing_v1!;
    const event = await buildTestEvent(stack.deps, i.id, { key: 'thing-test' });
    assert.equal(event.key, 'thing-test');
    assert.equal((await deliver(stack.apiUrl, i.id, event)).status, 200);
    const v1 = await rowNewerThan(i, 'thing-test', 0);
    const again = await buildTestEvent(stack.deps, i.id, { key: 'thing-test' });
    assert.equal((await deliver(stack.apiUrl, i.id, again)).status, 200);
    await rowNewerThan(i, 'thing-test', v1.at);
  });

  test('in this process (no HOOKSYNC_API_URL): sent to the API on PORT; outside `hooksync dev` it asks, and without a terminal refuses', async () => {
    const port = new URL(stack.apiUrl).port;
    const i = made.stripe_customer_v1!;
    const asked = await runCli(['integrations', 'send-test-event', i.id, '--key', 'cus_local'], { env: localEnv(port) });
    assert.equal(asked.code, 1);
    assert.match(asked.stderr, /without confirmation: there is no terminal to ask on; run again with --yes/);
    const sent = ok(await runCli(['integrations', 'send-test-event', i.id, '--key', 'cus_local', '--yes'], { env: localEnv(port) }));
    assert.match(sent.stdout, /Sent a test event for cus_local: 200/);
    await rowNewerThan(i, 'cus_local', 0);
  });

  test('a non-2xx answer exits 1 (with --json still {status, key}); no secret or no way to mark a deletion is an error', async () => {
    const refusing = http.createServer((_req, res) => res.writeHead(503).end('down for the test'));
    await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
    try {
      const port = String((refusing.address() as AddressInfo).port);
      const r = await runCli(['integrations', 'send-test-event', made.stripe_customer_v1!.id, '--yes', '--json'], { env: localEnv(port) });
      assert.equal(r.code, 1);
      assert.deepEqual(JSON.parse(r.stdout), { status: 503, key: 'test_customer' });
      assert.match(r.stderr, /answered 503/);
    } finally {
      refusing.close();
    }
    const noSecret = await runCli(['integrations', 'send-test-event', made.no_secret!.id, '--yes'], { env: remoteEnv() });
    assert.equal(noSecret.code, 1);
    assert.match(noSecret.stderr, /has no webhook secret yet/);
    const github = await runCli(['integrations', 'send-test-event', 'svi_doesnotexist', '--yes'], { env: remoteEnv() });
    assert.equal(github.code, 1);
    assert.match(github.stderr, /no integration svi_doesnotexist/);
  });
});
