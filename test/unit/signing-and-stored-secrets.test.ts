import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { generateSigningSecret, signatureHeaders, signingSecretsOf } from '../../src/delivery/signature';
import { SECRET_COLUMNS } from '../../src/secrets/columns';
import { createKeyring, generateKey, KeyringError } from '../../src/secrets/keyring';
import { openSecret, sealSecret } from '../../src/secrets/stored';

describe('Standard Webhooks signatures', () => {
  const body = '{"rows":[],"integration_id":"svi_1","integration_service":"stripe_customer_v1","table":"t","sync_timestamp":"2026-01-01T00:00:00.000Z"}';

  test('a signature standardwebhooks verifies, over the id, the timestamp in unix seconds and the body', () => {
    const secret = generateSigningSecret();
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    const h = signatureHeaders('hst_1:5.1-5.9', body, [secret], new Date(Date.now() - 1_500));
    assert.equal(h['webhook-id'], 'hst_1:5.1-5.9');
    assert.match(h['webhook-timestamp']!, /^\d{10}$/);
    assert.deepEqual(new Webhook(secret).verify(body, h), JSON.parse(body));
    assert.throws(() => new Webhook(secret).verify(body.replace('t"', 'u"'), h), /signature/i);
    assert.throws(() => new Webhook(secret).verify(body, { ...h, 'webhook-id': 'hst_1:other' }), /signature/i);
  });

  test('the same signature as the standardwebhooks package computes, for a large body with non-ASCII text', () => {
    const rows = Array.from({ length: 2_000 }, (_, i) => `{"pk":${i},"name":"Zoë Ångström ${i}","note":"🚀 ✓"}`);
    const big = `{"rows":[${rows.join(',')}]}`;
    const at = new Date(1_790_000_000_500);
    for (const secret of [generateSigningSecret(), 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw']) {
      const h = signatureHeaders('hst_1:g2:5.1-5.9', big, [secret], at);
      assert.equal(h['webhook-timestamp'], '1790000000');
      assert.equal(h['webhook-signature'], new Webhook(secret).sign('hst_1:g2:5.1-5.9', at, big));
    }
  });

  test('two secrets, two space-separated signatures: either one verifies', () => {
    const [a, b] = [generateSigningSecret(), generateSigningSecret()];
    const h = signatureHeaders('id', body, [a, b]);
    assert.equal(h['webhook-signature']!.split(' ').length, 2);
    for (const s of [a, b]) assert.deepEqual(new Webhook(s).verify(body, h), JSON.parse(body));
    assert.throws(() => new Webhook(generateSigningSecret()).verify(body, h));
  });

  test('the previous secret signs until it expires; without a secret nothing is signed', () => {
    const row = { id: 'hst_1', signing_secret: 'whsec_bmV3', signing_secret_previous: 'whsec_b2xk', signing_secret_previous_expires_at: new Date(Date.now() + 60_000) };
    assert.deepEqual(signingSecretsOf(row, undefined), ['whsec_bmV3', 'whsec_b2xk']);
    assert.deepEqual(signingSecretsOf({ ...row, signing_secret_previous_expires_at: new Date(Date.now() - 1) }, undefined), ['whsec_bmV3']);
    assert.deepEqual(signatureHeaders('id', body, []), {});
  });
});

describe('stored secrets', () => {
  const ring = createKeyring(generateKey());

  test('sealed for their column and row: they open there only', () => {
    const sealed = sealSecret(ring, 'sync_targets.url', 'hst_1', 'https://u:p@h/x');
    assert.equal(openSecret(ring, 'sync_targets.url', 'hst_1', sealed), 'https://u:p@h/x');
    assert.throws(() => openSecret(ring, 'sync_targets.url', 'hst_2', sealed), KeyringError);
    assert.throws(() => openSecret(ring, 'sync_targets.signing_secret', 'hst_1', sealed), KeyringError);
  });

  test('without a keyring values stay clear; a sealed one then names HOOKSYNC_ENCRYPTION_KEY', () => {
    assert.equal(sealSecret(undefined, 'integrations.webhook_secret', 'svi_1', 'whsec_x'), 'whsec_x');
    assert.equal(openSecret(ring, 'integrations.webhook_secret', 'svi_1', 'whsec_x'), 'whsec_x', 'clear values from before still open');
    const sealed = sealSecret(ring, 'integrations.webhook_secret', 'svi_1', 'whsec_x');
    assert.throws(() => openSecret(undefined, 'integrations.webhook_secret', 'svi_1', sealed), /HOOKSYNC_ENCRYPTION_KEY is not set/);
  });

  test('the list of secret columns names each column once', () => {
    const names = SECRET_COLUMNS.map((c) => `${c.table}.${c.column}`);
    assert.equal(new Set(names).size, names.length);
    assert.ok(names.includes('integrations.webhook_secret') && names.includes('sync_targets.url') && names.includes('sync_targets.signing_secret'));
  });
});
