import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { shardOf } from '../src/api/inbox-writer';
import { registerIntegration } from '../src/integrations';
import { createIntegration, type IntegrationView } from '../src/services/integrations';
import { startStack, waitFor, type Stack } from './support/harness';
import { existingIngestWorkflows, inboxRows } from './support/ingest';
import { HMAC_UPSTREAMS } from './support/hmac-upstreams';
import { deliver, fakeDescriptor, fakeUpstream, githubUpstream, standardUpstream, stripeUpstream, type Delivery, type Upstream, type Version } from './support/upstreams';

// The guarantees every integration gives, whatever its upstream: one suite, run against each one
// (and against a fake integration that exercises the frame alone), through the real API, the real
// Temporal worker and PostgreSQL. Events are signed as each upstream signs them.

registerIntegration(fakeDescriptor);

const UPSTREAMS: Upstream[] = [stripeUpstream, githubUpstream, standardUpstream, ...HMAC_UPSTREAMS, fakeUpstream];
/** Upstream times in epoch seconds: a fixed past instant (Stripe's signatures are fresh, its `created` is not). */
const T0 = 1_700_000_000;

describe('every integration: the newest version wins, nothing refused is stored', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.close();
  });

  for (const up of UPSTREAMS) {
    describe(up.name ?? up.service, () => {
      let main: IntegrationView;
      /** Only ever sent what must be refused or ignored: it must stay empty, without a workflow. */
      let quiet: IntegrationView;
      let keys = 0;
      let barriers = 0;
      const freshKey = () => up.key(keys++);

      before(async () => {
        main = await createIntegration(stack.deps, { service: up.service, webhookSecret: up.secret, options: up.options });
        quiet = await createIntegration(stack.deps, { service: up.service, webhookSecret: up.secret, options: up.options });
      });

      const send = async (d: Delivery, to = main) => {
        const r = await deliver(stack.apiUrl, to.id, d);
        assert.equal(r.status, 200, `${up.service}: ${r.status} ${JSON.stringify(r.body)}`);
        return r;
      };
      const version = async (key: string, v: Version) => (await up.event(key, v))();
      const rowOf = async (key: string) =>
        (await stack.pool.query(`SELECT *, _txid::text AS _txid FROM ${main.table} WHERE ${up.keyColumn} = $1`, [key])).rows[0];
      const waitForRow = (key: string, ok: (row: any) => boolean, what: string) =>
        waitFor(async () => {
          const row = await rowOf(key);
          return row && ok(row) ? row : undefined;
        }, { what: `${up.service}: ${what}` });
      const waitForMarker = (key: string, marker: string) => waitForRow(key, (r) => up.markerOf(r) === marker, `${key} at version ${marker}`);

      /**
       * Waits until what was sent before to `key`'s shard is processed: a shard applies in order
       * of arrival, so once a later event of a fresh key of the shard is in the table, it is.
       */
      const barrier = async (key: string) => {
        const shards = stack.config.HOOKSYNC_INGEST_SHARDS;
        let k: string;
        do k = up.key(1_000_000 + barriers++);
        while (shardOf(k, shards) !== shardOf(key, shards));
        await send(await version(k, { at: T0, marker: 'barrier' }));
        await waitForMarker(k, 'barrier');
      };

      test('a newer version replaces the row (re-stamped for delivery); an older one never overwrites it', async () => {
        const key = freshKey();
        await send(await version(key, { at: T0 + 10, marker: 'v2' }));
        const stored = await waitForMarker(key, 'v2');
        assert.equal(stored[up.timestampColumn].getTime(), (T0 + 10) * 1000, 'the upstream time orders versions');
        assert.equal(stored.deleted, false);
        await send(await version(key, { at: T0 + 5, marker: 'v1' }));
        await barrier(key);
        assert.deepEqual(await rowOf(key), stored, 'the older version changed nothing, not even the stamps');
        await send(await version(key, { at: T0 + 20, marker: 'v3' }));
        const newer = await waitForMarker(key, 'v3');
        assert.equal(newer.pk, stored.pk, 'the same row, updated in place');
        assert.ok(BigInt(newer._seq) > BigInt(stored._seq), 're-stamped, so HTTP Sync delivers it');
      });

      test('a redelivery changes nothing', async () => {
        const key = freshKey();
        const event = await up.event(key, { at: T0 + 10, marker: 'once' });
        await send(await event());
        const stored = await waitForMarker(key, 'once');
        await send(await event());
        await send(await event());
        await barrier(key);
        assert.deepEqual(await rowOf(key), stored, 'not re-stamped: receivers do not get it again');
      });

      test('a deletion marks the row deleted, and an older version does not bring it back', async () => {
        const key = freshKey();
        await send(await version(key, { at: T0 + 10, marker: 'alive' }));
        await waitForMarker(key, 'alive');
        await send(await version(key, { at: T0 + 20, marker: 'gone', deleted: true }));
        const deleted = await waitForRow(key, (r) => r.deleted === true, `${key} deleted`);
        assert.equal(up.markerOf(deleted), 'gone', 'data is the resource as it was deleted');
        await send(await version(key, { at: T0 + 15, marker: 'late' }));
        await barrier(key);
        assert.deepEqual(await rowOf(key), deleted);
      });

      test('at the same upstream time a deletion wins, whichever arrives first', async () => {
        const first = freshKey();
        await send(await version(first, { at: T0 + 10, marker: 'gone', deleted: true }));
        const deleted = await waitForRow(first, (r) => r.deleted === true, `${first} deleted`);
        await send(await version(first, { at: T0 + 10, marker: 'tied' }));
        await barrier(first);
        assert.deepEqual(await rowOf(first), deleted, 'a change of the same time after the deletion loses');

        const second = freshKey();
        await send(await version(second, { at: T0 + 10, marker: 'tied' }));
        await waitForMarker(second, 'tied');
        await send(await version(second, { at: T0 + 10, marker: 'gone', deleted: true }));
        const row = await waitForRow(second, (r) => r.deleted === true, `${second} deleted`);
        assert.equal(up.markerOf(row), 'gone');
      });

      test('a bad signature is 401, and events it does not use are acknowledged (2xx); neither stores a row nor starts a workflow', async () => {
        const key = freshKey();
        const good = await version(key, { at: T0 + 10, marker: 'forged' });
        const forged = await up.forged(good);
        const tampered = { ...good, body: good.body.replace('forged', 'f0rged') };
        assert.notEqual(tampered.body, good.body);
        for (const d of [forged, tampered]) {
          const r = await deliver(stack.apiUrl, quiet.id, d);
          assert.equal(r.status, 401, JSON.stringify(r.body));
          assert.equal(r.body.code, 'bad_signature');
        }
        const unsigned = await deliver(stack.apiUrl, quiet.id, { body: good.body, headers: { 'content-type': 'application/json' } });
        assert.equal(unsigned.status, 401);
        assert.equal(unsigned.body.code, 'missing_signature');

        const unhandled = await up.unhandled();
        assert.ok(unhandled.length > 0);
        for (const d of unhandled) {
          const r = await send(d, quiet);
          assert.equal(r.body.received, true);
          assert.match(r.body.ignored, /is not used by/);
        }
        // No waiting needed: the API answers only once what it stores has committed, and wakes a
        // workflow only for what it stored; the inbox is read before the table, so an event moving
        // from one to the other is seen in one of them.
        assert.deepEqual(await inboxRows(stack.pool, quiet.id), [], 'nothing in the inbox');
        assert.deepEqual((await stack.pool.query(`SELECT * FROM ${quiet.table}`)).rows, [], 'no row');
        assert.deepEqual(await existingIngestWorkflows(stack.temporal.client, quiet.id, stack.config.HOOKSYNC_INGEST_SHARDS), [], 'no workflow');
      });
    });
  }
});
