import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createKeyring, generateKey, isSealed, KeyringError } from '../../src/secrets/keyring';

describe('the keyring: AES-256-GCM for secrets at rest', () => {
  const a = generateKey();
  const b = generateKey();

  test('seals and opens; the sealed form names its key and hides the value', () => {
    const ring = createKeyring(a);
    const sealed = ring.seal('https://user:pass@example.com/x', 'sync_targets.url:hst_1');
    assert.ok(isSealed(sealed));
    assert.ok(!sealed.includes('pass'));
    assert.equal(ring.keyIdOf(sealed), ring.currentKeyId);
    assert.equal(ring.open(sealed, 'sync_targets.url:hst_1'), 'https://user:pass@example.com/x');
    assert.notEqual(ring.seal('same'), ring.seal('same'), 'a fresh IV every time');
  });

  test('a value sealed for one row does not open for another, nor when altered', () => {
    const ring = createKeyring(a);
    const sealed = ring.seal('secret', 'row:1');
    assert.throws(() => ring.open(sealed, 'row:2'), KeyringError);
    const flipped = sealed.slice(0, -2) + (sealed.at(-2) === 'A' ? 'B' : 'A') + sealed.at(-1);
    assert.throws(() => ring.open(flipped, 'row:1'), KeyringError);
  });

  test('rotation: the first key seals, every listed key opens; a missing key is named', () => {
    const old = createKeyring(a);
    const sealedOld = old.seal('v');
    const both = createKeyring(`${b},${a}`);
    assert.equal(both.open(sealedOld), 'v');
    assert.equal(both.keyIdOf(both.seal('w')), createKeyring(b).currentKeyId);
    assert.throws(() => createKeyring(b).open(sealedOld), /does not hold/);
  });

  test('keys must be base64 of 32 bytes', () => {
    assert.throws(() => createKeyring('short'), KeyringError);
    assert.throws(() => createKeyring(''), KeyringError);
    assert.throws(() => createKeyring(Buffer.alloc(16).toString('base64')), KeyringError);
    assert.doesNotThrow(() => createKeyring(Buffer.alloc(32, 7).toString('base64url')));
  });
});
