import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { githubWebhooksMethods } from '../src/integrations/github-signature';
import { hmacConfig, type HmacConfig } from '../src/integrations/hmac-config';
import { PRESET_NAMES } from '../src/integrations/hmac-presets';
import { verifyHmac } from '../src/integrations/hmac-signature';
import { hmacV1 } from '../src/integrations/hmac-v1';
import { ServiceError } from '../src/services/errors';
import { createIntegration } from '../src/services/integrations';
import { migratedSchema, type Schema } from './support/database';
import { startStack, waitFor, type Stack } from './support/harness';
import { ACME_OPTIONS, acmeSign, intercomSign, linearSign, shopifySign, zendeskSign } from './support/hmac-upstreams';
import { runCli } from './support/httpsync';
import { deliver } from './support/upstreams';

// What is particular to hmac_v1 beyond the behaviour suite (which runs each preset and a custom
// sender): each preset against its vendor's documented signing rule (and published example),
// stale and malformed signatures, keys beyond 2^53, settings checked at creation through the
// service, the management API and the CLI, and testEvent for every preset.

const TOKEN = 'hmac-test-token-0123456789abcdef';
const config = (given: Record<string, unknown>): HmacConfig => hmacConfig.parse(given);
const verify = (c: HmacConfig, body: string, headers: Record<string, string>, secret: string) => verifyHmac(c, Buffer.from(body), headers, secret);

describe('hmac_v1: each preset signs as its vendor documents', () => {
  const body = '{"id":820982911946154508,"title":"Example T-Shirt"}';

  test('shopify: X-Shopify-Hmac-Sha256, base64 of HMAC-SHA256 of the body; hex of the same digest is malformed', () => {
    const c = config({ preset: 'shopify' });
    assert.deepEqual(verify(c, body, shopifySign(body, 's3cret'), 's3cret'), { ok: true });
    const hex = Buffer.from(shopifySign(body, 's3cret')['x-shopify-hmac-sha256'], 'base64').toString('hex');
    assert.equal(verify(c, body, { 'x-shopify-hmac-sha256': hex }, 's3cret').ok, false);
    assert.equal((verify(c, body, shopifySign(body, 'other'), 's3cret') as { reason: string }).reason, 'bad_signature');
  });

  test('linear: Linear-Signature, hex of HMAC-SHA256 of the body', () => {
    const c = config({ preset: 'linear' });
    assert.deepEqual(verify(c, body, linearSign(body, 'lin_wh_x'), 'lin_wh_x'), { ok: true });
    assert.equal((verify(c, body + ' ', linearSign(body, 'lin_wh_x'), 'lin_wh_x') as { reason: string }).reason, 'bad_signature');
  });

  test('intercom: X-Hub-Signature: sha1=<hex>; without the prefix it is malformed', () => {
    const c = config({ preset: 'intercom' });
    const headers = intercomSign(body, 'client-secret');
    assert.match(headers['x-hub-signature'], /^sha1=[0-9a-f]{40}$/);
    assert.deepEqual(verify(c, body, headers, 'client-secret'), { ok: true });
    const bare = { 'x-hub-signature': headers['x-hub-signature'].slice(5) };
    assert.equal((verify(c, body, bare, 'client-secret') as { reason: string }).reason, 'malformed_signature');
  });

  test('zendesk: base64 of HMAC-SHA256 of TIMESTAMP + BODY; the published example (signed body first) verifies with --signed-payload {body}{timestamp}', () => {
    const c = config({ preset: 'zendesk' });
    assert.deepEqual(verify(c, body, zendeskSign(body, 'zd-secret'), 'zd-secret'), { ok: true });
    // developer.zendesk.com's example vector, from the page that writes the rule as (BODY)(TIMESTAMP);
    // the current page writes TIMESTAMP + BODY, which the preset follows. The options cover both.
    const example = {
      secret: 'HRkRd4BeOAoUkfZr-mhauJT64rvBASlJRoIyPsd3zeA=',
      body: '{"say": "hello"}',
      headers: { 'x-zendesk-webhook-signature': 'tRDSF7URY8BLCDlaBcQ7FHu051Zk+aAB0NKMP53teMw=', 'x-zendesk-webhook-signature-timestamp': '2021-07-25T10:00:00Z' },
    };
    const bodyFirst = config({ preset: 'zendesk', signed_payload: '{body}{timestamp}', tolerance: 86_400 });
    const at = Date.parse('2021-07-25T10:00:30Z');
    assert.deepEqual(verifyHmac(bodyFirst, Buffer.from(example.body), example.headers, example.secret, at), { ok: true });
    assert.equal((verifyHmac(c, Buffer.from(example.body), example.headers, example.secret, at) as { reason: string }).reason, 'bad_signature');
    // Today the example's timestamp is years old: stale, whatever the signature.
    assert.equal((verify(bodyFirst, example.body, example.headers, example.secret) as { reason: string }).reason, 'stale_signature');
  });

  test('options alone describe other senders: GitHub\'s X-Hub-Signature-256 as @octokit/webhooks-methods signs it', async () => {
    const { sign } = await githubWebhooksMethods();
    const c = config({ signature_header: 'X-Hub-Signature-256', signature_prefix: 'sha256=', remote_key: '/issue/id', timestamp: '/issue/updated_at' });
    assert.deepEqual(verify(c, body, { 'x-hub-signature-256': await sign('gh', body) }, 'gh'), { ok: true });
  });

  test('a timestamped signature: missing, unreadable or farther than the tolerance from now is refused', () => {
    const c = config(ACME_OPTIONS);
    assert.deepEqual(verify(c, body, acmeSign(body, 'k'), 'k'), { ok: true });
    const old = acmeSign(body, 'k', new Date(Date.now() - 121_000));
    assert.equal((verify(c, body, old, 'k') as { reason: string }).reason, 'stale_signature');
    const ahead = acmeSign(body, 'k', new Date(Date.now() + 121_000));
    assert.equal((verify(c, body, ahead, 'k') as { reason: string }).reason, 'stale_signature');
    const { ['x-acme-timestamp']: _t, ...untimed } = acmeSign(body, 'k');
    assert.equal((verify(c, body, untimed, 'k') as { reason: string }).reason, 'missing_signature');
    assert.equal((verify(c, body, { ...acmeSign(body, 'k'), 'x-acme-timestamp': 'yesterday' }, 'k') as { reason: string }).reason, 'malformed_signature');
    const zendeskOld = zendeskSign(body, 'z', new Date(Date.now() - 301_000));
    assert.equal((verify(config({ preset: 'zendesk' }), body, zendeskOld, 'z') as { reason: string }).reason, 'stale_signature');
  });
});

describe('hmac_v1 through hooksync', () => {
  let stack: Stack;
  let own: Schema | undefined;
  const count = async () => Number((await stack.pool.query("SELECT count(*) FROM integrations WHERE service = 'hmac_v1'")).rows[0].count);
  const tables = async () => Number((await stack.pool.query("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'hmac_v1_%' AND schemaname = current_schema()")).rows[0].count);
  const cliEnv = () => ({ PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', DATABASE_URL: 'postgres://nobody@127.0.0.1:1/nowhere', TEMPORAL_ADDRESS: '127.0.0.1:1', HOOKSYNC_API_URL: stack.apiUrl, HOOKSYNC_API_TOKEN: TOKEN });

  before(async () => {
    // A schema of its own: "nothing created" counts rows that other files, running beside it, do not add to.
    own = await migratedSchema(process.env.DATABASE_URL!, 'hmac');
    stack = await startStack({ env: { DATABASE_URL: own.url, HOOKSYNC_API_TOKEN: TOKEN } });
  });
  after(async () => {
    await stack?.close();
    await own?.drop();
  });

  test('a Shopify id beyond 2^53 keeps every digit, in the key column and in data', async () => {
    const i = await createIntegration(stack.deps, { service: 'hmac_v1', webhookSecret: 'shpss_exact', options: { preset: 'shopify' } });
    const id = '18446744073709551557';
    const payload = `{"id":${id},"title":"Big","updated_at":"2025-04-22T14:30:00-05:00"}`;
    const r = await deliver(stack.apiUrl, i.id, { body: payload, headers: { 'content-type': 'application/json', 'x-shopify-topic': 'products/update', ...shopifySign(payload, 'shpss_exact') } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const row = await waitFor(async () => (await stack.pool.query(`SELECT remote_id, data->>'id' AS data_id, updated_at FROM ${i.table}`)).rows[0], { what: 'the row' });
    assert.deepEqual([row.remote_id, row.data_id], [id, id]);
    assert.equal(row.updated_at.toISOString(), '2025-04-22T19:30:00.000Z');
  });

  test('testEvent, for every preset and custom settings, is accepted as the upstream\'s own and stored with `now` as its version', async () => {
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    for (const options of [...PRESET_NAMES.map((preset) => ({ preset })), ACME_OPTIONS, { preset: 'linear', deleted: '/data/archived' }]) {
      const i = await createIntegration(stack.deps, { service: 'hmac_v1', webhookSecret: 'test-event-secret', options });
      const c = i.config as unknown as HmacConfig;
      for (const [key, deleted] of [['42', false], ['43', true]] as const) {
        const e = hmacV1.testEvent!({ key, deleted, now, config: c, secret: 'test-event-secret' });
        const r = await deliver(stack.apiUrl, i.id, e);
        assert.equal(r.status, 200, `${JSON.stringify(options)}: ${JSON.stringify(r.body)}`);
        const row = await waitFor(async () => (await stack.pool.query(`SELECT * FROM ${i.table} WHERE remote_id = $1`, [key])).rows[0], { what: `${key} of ${JSON.stringify(options)}` });
        assert.equal(row.deleted, deleted, JSON.stringify(options));
        assert.equal(row.updated_at.getTime(), now.getTime(), JSON.stringify(options));
      }
    }
  });

  test('settings are checked at creation: a clear error and nothing created', async () => {
    const before = [await count(), await tables()];
    const cases: [Record<string, unknown>, RegExp][] = [
      [{}, /needs signature_header \(--signature-header\) or a preset/],
      [{ preset: 'stripe' }, /preset \(--preset\) is one of shopify, linear, intercom, zendesk/],
      [{ preset: 'shopify', algorithm: 'md5' }, /algorithm \(--algorithm\) is one of sha256, sha1, sha512/],
      [{ preset: 'shopify', encoding: 'base32' }, /encoding \(--encoding\) is one of hex, base64/],
      [{ preset: 'linear', signed_payload: '{timestamp}{body}' }, /give the header it comes from \(--timestamp-header\)/],
      [{ preset: 'linear', signed_payload: '{body}{nonce}' }, /unknown placeholder \{nonce\}/],
      [{ preset: 'linear', signed_payload: '{timestamp}' }, /must hold \{body\} exactly once/],
      [{ preset: 'linear', tolerance: 60 }, /tolerance \(--tolerance\) applies to a timestamped signature/],
      [{ preset: 'zendesk', tolerance: 0 }, /at least 1 second/],
      [{ preset: 'linear', timestamp_header: 'X-Ts' }, /needs \{timestamp\} in signed_payload/],
      [{ preset: 'linear', deleted: 'action=remove' }, /a JSON pointer starts with "\/"/],
      [{ preset: 'linear', deleted: '/action=' }, /needs a value after "="/],
      [{ signature_header: 'X Sig', remote_key: '/id', timestamp: '/t' }, /must be an HTTP header name/],
      [{ preset: 'linear', remote_key: '' }, /must point into the payload/],
      [{ preset: 'linear', nonce: 'x' }, /hmac_v1 takes no nonce/],
    ];
    for (const [options, message] of cases) {
      await assert.rejects(createIntegration(stack.deps, { service: 'hmac_v1', webhookSecret: 's', options }), (err: unknown) => err instanceof ServiceError && err.code === 'invalid' && message.test(err.message), JSON.stringify(options));
    }
    await assert.rejects(createIntegration(stack.deps, { service: 'hmac_v1', webhookSecret: 'with space', options: { preset: 'linear' } }), /printable ASCII without spaces/);
    await assert.rejects(createIntegration(stack.deps, { service: 'stripe_customer_v1', options: { preset: 'shopify' } }), /stripe_customer_v1 takes no preset/);
    assert.deepEqual([await count(), await tables()], before);
  });

  test('options override a preset\'s settings; a --deleted of one\'s own replaces the preset\'s deletion rule', async () => {
    const c = config({ preset: 'shopify', encoding: 'hex', signature_header: 'X-Other', deleted: '/gone' });
    assert.deepEqual([c.preset, c.signature_header, c.encoding, c.algorithm, c.remote_key, c.deleted, c.deleted_when], ['shopify', 'x-other', 'hex', 'sha256', '/id', '/gone', null]);
    assert.equal(config({ signature_header: 'X-S', signed_payload: '{timestamp}.{body}', timestamp_header: 'X-T', remote_key: '/id', timestamp: '/t' }).tolerance, 300, 'a timestamped signature is checked against 5 minutes by default');
  });

  test('the management API takes every setting and shows them under config; a bad one is 400 and creates nothing', async () => {
    const post = (body: unknown) => fetch(`${stack.apiUrl}/v1/integrations`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const before = await count();
    const bad = await post({ service: 'hmac_v1', webhook_secret: 's', preset: 'zendesk', tolerance: 'soon' });
    assert.equal(bad.status, 400);
    assert.equal(await count(), before);
    const ok = await post({ service: 'hmac_v1', webhook_secret: 's', ...ACME_OPTIONS });
    assert.equal(ok.status, 201);
    const created = (await ok.json()) as { id: string };
    const info = (await (await fetch(`${stack.apiUrl}/v1/integrations/${created.id}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { config: unknown };
    assert.deepEqual(info.config, { ...ACME_OPTIONS, preset: null, signature_header: 'x-acme-signature', timestamp_header: 'x-acme-timestamp', deleted_when: null });
  });

  test('the CLI: --preset with the secret from stdin, options as flags, info --json shows config, and a bad option creates nothing', async () => {
    const made = await runCli(['integrations', 'create', 'hmac_v1', '--preset', 'intercom', '--webhook-secret', '-', '--signature-prefix', 'sha1=', '--json'], { env: cliEnv(), stdin: 'intercom-client-secret\n' });
    assert.equal(made.code, 0, made.stderr);
    const { id } = JSON.parse(made.stdout);
    const info = await runCli(['integrations', 'info', id, '--json'], { env: cliEnv() });
    assert.equal(info.code, 0, info.stderr);
    const shown = JSON.parse(info.stdout).config;
    assert.deepEqual([shown.preset, shown.signature_header, shown.algorithm, shown.signature_prefix, shown.remote_key], ['intercom', 'x-hub-signature', 'sha1', 'sha1=', '/data/item/id']);

    const custom = await runCli(
      ['integrations', 'create', 'hmac_v1', '--webhook-secret', '-', '--signature-header', 'X-Acme-Signature', '--algorithm', 'sha512', '--signature-prefix', 'v0=', '--signed-payload', 'v0:{timestamp}:{body}', '--timestamp-header', 'X-Acme-Timestamp', '--tolerance', '120', '--remote-key', '/object/id', '--timestamp', '/object/modified_at', '--deleted', '/event=object.removed', '--json'],
      { env: cliEnv(), stdin: 'acme\n' },
    );
    assert.equal(custom.code, 0, custom.stderr);
    const before = await count();
    const refused = await runCli(['integrations', 'create', 'hmac_v1', '--preset', 'shopify', '--algorithm', 'md5', '--webhook-secret', '-'], { env: cliEnv(), stdin: 's\n' });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /algorithm \(--algorithm\) is one of sha256, sha1, sha512/);
    const tolerance = await runCli(['integrations', 'create', 'hmac_v1', '--preset', 'zendesk', '--tolerance', 'soon', '--webhook-secret', '-'], { env: cliEnv(), stdin: 's\n' });
    assert.notEqual(tolerance.code, 0);
    assert.match(tolerance.stderr, /--tolerance must be a whole number/);
    assert.equal(await count(), before);
  });
});
