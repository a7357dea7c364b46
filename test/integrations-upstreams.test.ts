import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { createIntegration, type IntegrationView } from '../src/services/integrations';
import { ServiceError } from '../src/services/errors';
import { startStack, waitFor, type Stack } from './support/harness';
import { migratedSchema, type Schema } from './support/database';
import { existingIngestWorkflows, inboxRows } from './support/ingest';
import { deliver, githubDelivery, githubExamples, githubUpstream, standardDelivery, standardUpstream } from './support/upstreams';

// What is particular to GitHub issues and to Standard Webhooks senders, beyond the guarantees
// every integration gives (test/integration-behaviour.test.ts): GitHub's own example payloads,
// its ping, the Standard Webhooks replay window and webhook-id, and per-instance settings.

const TOKEN = 'upstreams-test-token-0123456789';

describe('integrations: GitHub issues and Standard Webhooks', () => {
  let stack: Stack;
  let own: Schema | undefined;

  before(async () => {
    // A schema of its own: "nothing created" counts integrations and tables that other files,
    // running beside it, do not add to.
    own = await migratedSchema(process.env.DATABASE_URL!, 'upstreams');
    stack = await startStack({ env: { DATABASE_URL: own.url, HOOKSYNC_API_TOKEN: TOKEN } });
  });
  after(async () => {
    await stack?.close();
    await own?.drop();
  });

  const rows = async (i: IntegrationView, key: string) => (await stack.pool.query(`SELECT * FROM ${i.table} ORDER BY 1`)).rows.map((r) => r[key]);
  const countIntegrations = async () => Number((await stack.pool.query('SELECT count(*) FROM integrations')).rows[0].count);
  const countTables = async (prefix: string) =>
    Number((await stack.pool.query(`SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE $1`, [`${prefix}%`])).rows[0].count);
  /**
   * Nothing stored and no workflow started for the integration. No waiting needed: the API answers
   * only once what it stores has committed, and wakes a workflow only for what it stored; the inbox
   * is read before the table, so an event moving from one to the other is seen in one of them.
   */
  const assertUntouched = async (i: IntegrationView) => {
    assert.deepEqual(await inboxRows(stack.pool, i.id), []);
    assert.deepEqual((await stack.pool.query(`SELECT * FROM ${i.table}`)).rows, []);
    assert.deepEqual(await existingIngestWorkflows(stack.temporal.client, i.id, stack.config.HOOKSYNC_INGEST_SHARDS), []);
  };

  describe('github_issue_v1', () => {
    let gh: IntegrationView;
    before(async () => {
      gh = await createIntegration(stack.deps, { service: 'github_issue_v1', webhookSecret: githubUpstream.secret });
    });

    test('every issues payload GitHub documents becomes its issue\'s row: newest updated_at, a deletion winning ties, denormalized columns, data the whole issue', async () => {
      const examples = githubExamples('issues');
      assert.ok(examples.length >= 20, `${examples.length} examples`);
      // What the table must hold once all are applied, in the order they are sent.
      const expected = new Map<number, { event: any; rank: [number, number] }>();
      for (const e of examples) {
        const rank: [number, number] = [Date.parse(e.issue.updated_at), e.action === 'deleted' ? 1 : 0];
        const held = expected.get(e.issue.id);
        const newer = !held || rank[0] > held.rank[0] || (rank[0] === held.rank[0] && rank[1] > held.rank[1]);
        const tieChanged = held && rank[0] === held.rank[0] && rank[1] === held.rank[1] && !isDeepStrictEqual([held.event.issue, held.event.repository.full_name], [e.issue, e.repository.full_name]);
        if (newer || tieChanged) expected.set(e.issue.id, { event: e, rank });
        const r = await deliver(stack.apiUrl, gh.id, await githubDelivery('issues', e, githubUpstream.secret));
        assert.equal(r.status, 200, JSON.stringify(r.body));
      }
      // GitHub's examples delete issue 444500041 and reopen it in the same second: the deletion wins.
      assert.equal(expected.get(444500041)?.event.action, 'deleted');
      const stored = await waitFor(async () => {
        const { rows: all } = await stack.pool.query(`SELECT * FROM ${gh.table}`);
        const byId = new Map(all.map((r) => [Number(r.github_id), r]));
        const done = [...expected].every(([id, x]) => byId.has(id) && isDeepStrictEqual(byId.get(id).data, x.event.issue));
        return done && all.length === expected.size ? byId : undefined;
      }, { what: 'every example issue at its newest version' });
      for (const [id, { event }] of expected) {
        const row = stored.get(id);
        const issue = event.issue;
        assert.deepEqual(
          {
            number: row.number,
            title: row.title,
            state: row.state,
            repository: row.repository,
            user_login: row.user_login,
            html_url: row.html_url,
            comments: row.comments,
            locked: row.locked,
            created_at: row.created_at?.toISOString(),
            closed_at: row.closed_at?.toISOString() ?? null,
            updated_at: row.updated_at.toISOString(),
            deleted: row.deleted,
          },
          {
            number: issue.number,
            title: issue.title,
            state: issue.state ?? null,
            repository: event.repository.full_name,
            user_login: issue.user.login,
            html_url: issue.html_url,
            comments: issue.comments,
            locked: issue.locked ?? null,
            created_at: new Date(issue.created_at).toISOString(),
            closed_at: issue.closed_at ? new Date(issue.closed_at).toISOString() : null,
            updated_at: new Date(issue.updated_at).toISOString(),
            deleted: event.action === 'deleted',
          },
          `issue ${id}`,
        );
      }
    });

    test('ping (sent when the hook is added) and other events are acknowledged and ignored; signatures are checked first', async () => {
      const quiet = await createIntegration(stack.deps, { service: 'github_issue_v1', webhookSecret: githubUpstream.secret });
      const ping = await deliver(stack.apiUrl, quiet.id, await githubDelivery('ping', githubExamples('ping')[0], githubUpstream.secret));
      assert.equal(ping.status, 200);
      assert.deepEqual(ping.body, { received: true, ignored: 'event type ping is not used by github_issue_v1' });

      const issue = githubExamples('issues')[0];
      const good = await githubDelivery('issues', issue, githubUpstream.secret);
      const cases: Array<[Record<string, string>, number, string]> = [
        [{ 'x-hub-signature-256': 'sha1=' + 'a'.repeat(40) }, 401, 'malformed_signature'],
        [{ 'x-hub-signature-256': good.headers['x-hub-signature-256']!.toUpperCase() }, 401, 'malformed_signature'],
        [{ 'x-hub-signature-256': 'sha256=' + '0'.repeat(64) }, 401, 'bad_signature'],
      ];
      for (const [headers, status, code] of cases) {
        const r = await deliver(stack.apiUrl, quiet.id, { ...good, headers: { ...good.headers, ...headers } });
        assert.deepEqual([r.status, r.body.code], [status, code]);
      }
      const { 'x-github-event': _event, ...noEvent } = good.headers;
      const r = await deliver(stack.apiUrl, quiet.id, { ...good, headers: noEvent });
      assert.deepEqual([r.status, r.body.code, r.body.detail], [400, 'invalid_event', 'missing X-GitHub-Event header']);
      await assertUntouched(quiet);

      const noSecret = await createIntegration(stack.deps, { service: 'github_issue_v1' });
      const refused = await deliver(stack.apiUrl, noSecret.id, good);
      assert.deepEqual([refused.status, refused.body.code], [401, 'no_secret']);
      await assertUntouched(noSecret);
    });
  });

  describe('standard_webhooks_v1', () => {
    let sw: IntegrationView;
    const SECRET = standardUpstream.secret;
    const options = { remote_key: '/data/object/id', timestamp: '/data/object/modified' };
    before(async () => {
      sw = await createIntegration(stack.deps, { service: 'standard_webhooks_v1', webhookSecret: SECRET, options });
      assert.deepEqual(sw.config, options, 'the pointers are the instance\'s settings');
    });
    const payload = (id: string | number, modified: unknown, extra: Record<string, unknown> = {}) => ({
      type: 'object.updated',
      timestamp: '2026-11-27T12:00:00Z',
      data: { object: { id, modified, ...extra } },
    });

    test('timestamps more than five minutes away are refused (a replay), and nothing is stored', async () => {
      const quiet = await createIntegration(stack.deps, { service: 'standard_webhooks_v1', webhookSecret: SECRET, options });
      for (const offset of [-6 * 60_000, 6 * 60_000]) {
        const d = standardDelivery(payload('o_1', 1_700_000_000), SECRET, undefined, new Date(Date.now() + offset));
        const r = await deliver(stack.apiUrl, quiet.id, d);
        assert.deepEqual([r.status, r.body.code], [401, 'stale_signature'], `offset ${offset}`);
      }
      const garbled = standardDelivery(payload('o_1', 1_700_000_000), SECRET);
      const r = await deliver(stack.apiUrl, quiet.id, { ...garbled, headers: { ...garbled.headers, 'webhook-timestamp': 'yesterday' } });
      assert.deepEqual([r.status, r.body.code], [401, 'malformed_signature']);
      // A key but no version time: refused with the reason, not acknowledged.
      for (const modified of [undefined, 'last tuesday', -5, '2026-11-27']) {
        const bad = await deliver(stack.apiUrl, quiet.id, standardDelivery(payload('o_1', modified), SECRET));
        assert.equal(bad.status, 400, JSON.stringify(bad.body));
        assert.match(bad.body.detail, /at \/data\/object\/modified/);
      }
      await assertUntouched(quiet);
    });

    test('a webhook-id seen before is not applied again, even re-signed and with other content; keys may be integers; ISO-8601 or Unix seconds', async () => {
      const first = await deliver(stack.apiUrl, sw.id, standardDelivery(payload(42, '2026-11-27T12:00:00.250+01:00', { v: 1 }), SECRET, 'msg_same'));
      assert.equal(first.status, 200);
      const row = await waitFor(async () => (await stack.pool.query(`SELECT * FROM ${sw.table} WHERE remote_id = '42'`)).rows[0], { what: 'the row' });
      assert.equal(row.updated_at.toISOString(), '2026-11-27T11:00:00.250Z');
      assert.equal(row.event_type, 'object.updated');
      // Redelivered by the sender, re-signed now, newer content even: applied once only.
      const again = await deliver(stack.apiUrl, sw.id, standardDelivery(payload(42, 1_900_000_000, { v: 2 }), SECRET, 'msg_same'));
      assert.equal(again.status, 200);
      // A later message of another id, for another key in any shard, shows the redelivery was processed.
      await deliver(stack.apiUrl, sw.id, standardDelivery(payload(43, 1_800_000_000), SECRET, 'msg_next'));
      await waitFor(async () => (await stack.pool.query(`SELECT 1 FROM ${sw.table} WHERE remote_id = '43'`)).rows[0], { what: 'the other row' });
      await waitFor(async () => (await inboxRows(stack.pool, sw.id)).length === 0, { what: 'the inbox to empty' });
      assert.deepEqual((await stack.pool.query(`SELECT * FROM ${sw.table} WHERE remote_id = '42'`)).rows[0], row);
      assert.deepEqual(await rows(sw, 'remote_id'), ['42', '43']);
      const newer = await deliver(stack.apiUrl, sw.id, standardDelivery(payload(42, 1_900_000_000, { v: 3 }), SECRET, 'msg_new'));
      assert.equal(newer.status, 200);
      const updated = await waitFor(async () => (await stack.pool.query(`SELECT * FROM ${sw.table} WHERE remote_id = '42' AND data->'data'->'object'->>'v' = '3'`)).rows[0], {
        what: 'the newer version',
      });
      assert.equal(updated.updated_at.getTime(), 1_900_000_000_000, 'Unix seconds');
    });

    test('the pointers and the secret are checked at creation: a clear error, and nothing is created', async () => {
      const before = [await countIntegrations(), await countTables('standard_webhooks_v1_')];
      const refused: Array<[Parameters<typeof createIntegration>[1], RegExp]> = [
        [{ service: 'standard_webhooks_v1', webhookSecret: SECRET, options: { timestamp: '/t' } }, /remote_key \(--remote-key\) is required/],
        [{ service: 'standard_webhooks_v1', webhookSecret: SECRET, options: { remote_key: '/id' } }, /timestamp \(--timestamp\) is required/],
        [{ service: 'standard_webhooks_v1', webhookSecret: SECRET, options: { remote_key: 'data/id', timestamp: '/t' } }, /a JSON pointer starts with "\/": "data\/id"/],
        [{ service: 'standard_webhooks_v1', webhookSecret: SECRET, options: { remote_key: '/id', timestamp: '/a~2b' } }, /bad escape in JSON pointer/],
        [{ service: 'standard_webhooks_v1', webhookSecret: SECRET, options: { remote_key: '', timestamp: '/t' } }, /must point into the payload/],
        [{ service: 'standard_webhooks_v1', webhookSecret: 'whsec_!!notbase64', options }, /whsec_ followed by base64/],
        [{ service: 'standard_webhooks_v1', webhookSecret: 'not-a-whsec', options }, /whsec_ followed by base64/],
        [{ service: 'stripe_customer_v1', options: { remote_key: '/id' } }, /stripe_customer_v1 takes no remote_key/],
        [{ service: 'github_issue_v1', webhookSecret: ' padded ' }, /must not begin or end with spaces/],
      ];
      for (const [input, message] of refused) {
        await assert.rejects(createIntegration(stack.deps, input), (err: unknown) => err instanceof ServiceError && err.code === 'invalid' && message.test(err.message), JSON.stringify(input));
      }
      assert.deepEqual([await countIntegrations(), await countTables('standard_webhooks_v1_')], before);
    });

    test('the management API creates one with its pointers, and refuses bad ones with 400 and nothing created', async () => {
      const post = (body: unknown) =>
        fetch(`${stack.apiUrl}/v1/integrations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
      const before = await countIntegrations();
      const bad = await post({ service: 'standard_webhooks_v1', webhook_secret: SECRET, remote_key: 'id', timestamp: '/t' });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.code, 'invalid');
      assert.match(bad.body.detail, /a JSON pointer starts with "\/"/);
      assert.equal(await countIntegrations(), before);
      const ok = await post({ service: 'standard_webhooks_v1', webhook_secret: SECRET, remote_key: '/data/id', timestamp: '/data/updated_at', deleted: '/data/gone' });
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      assert.deepEqual(ok.body.config, { remote_key: '/data/id', timestamp: '/data/updated_at', deleted: '/data/gone' });
      assert.equal(ok.body.has_webhook_secret, true);
      assert.equal(await countIntegrations(), before + 1);
    });
  });
});
