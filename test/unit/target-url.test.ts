import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maskUrl, parseTargetUrl } from '../../src/http/target-url';

test('a target URL splits into endpoint, Basic Auth and a masked form', () => {
  const u = parseTargetUrl('https://us%40er:p%3Ass@api.example.com/sync?x=1', { allowHttp: false });
  assert.equal(u.endpoint, 'https://api.example.com/sync?x=1');
  assert.equal(u.authorization, 'Basic ' + Buffer.from('us@er:p:ss').toString('base64'));
  assert.equal(u.masked, 'https://***:***@api.example.com/sync?x=1');
  assert.equal(parseTargetUrl('https://a:b@api.example.com', { allowHttp: false }).masked, 'https://***:***@api.example.com');
});

test('plain http is refused unless allowed', () => {
  assert.throws(() => parseTargetUrl('http://a:b@example.com/', { allowHttp: false }), /must use https.*HOOKSYNC_ALLOW_HTTP/);
  assert.equal(parseTargetUrl('http://a:b@example.com/', { allowHttp: true }).endpoint, 'http://example.com/');
});

test('HOOKSYNC_ALLOW_HTTP=loopback (hooksync dev): plain http to localhost, 127.0.0.0/8 and ::1 only, still with Basic Auth', () => {
  for (const host of ['localhost', 'LOCALHOST', '127.0.0.1', '127.1.2.3', '[::1]', '[0:0:0:0:0:0:0:1]']) {
    assert.equal(parseTargetUrl(`http://a:b@${host}:9999/`, { allowHttp: 'loopback' }).host, `${host.toLowerCase().replace('0:0:0:0:0:0:0:1', '::1')}:9999`);
  }
  for (const host of ['example.com', '10.0.0.1', '192.168.1.1', '128.0.0.1', '0.0.0.0', '[::]', '[::ffff:127.0.0.1]', '[fe80::1]', 'localhost.example.com']) {
    assert.throws(() => parseTargetUrl(`http://a:b@${host}/`, { allowHttp: 'loopback' }), /must use https \(plain http only to localhost, 127\.0\.0\.0\/8 and ::1.*HOOKSYNC_ALLOW_HTTP=1/, host);
  }
  assert.throws(() => parseTargetUrl('http://localhost:9999/', { allowHttp: 'loopback' }), /Basic Auth/);
  assert.throws(() => parseTargetUrl('http://a:b@localhost/', { allowHttp: false }), /must use https/);
  assert.equal(parseTargetUrl('https://a:b@localhost/', { allowHttp: 'loopback' }).endpoint, 'https://localhost/');
});

test('a URL without Basic Auth credentials, or no URL at all, is refused', () => {
  assert.throws(() => parseTargetUrl('https://example.com/', { allowHttp: false }), /Basic Auth/);
  assert.throws(() => parseTargetUrl('https://user@example.com/', { allowHttp: false }), /Basic Auth/);
  assert.throws(() => parseTargetUrl('not a url', { allowHttp: false }), /not a valid URL/);
  assert.throws(() => parseTargetUrl('ftp://a:b@example.com/', { allowHttp: true }), /https/);
});

test('maskUrl never shows a password, even of a URL that does not parse as a target', () => {
  assert.equal(maskUrl('https://u:secret@h.example/x'), 'https://***:***@h.example/x');
  assert.doesNotMatch(maskUrl('gopher://u:secret@h.example/x'), /secret/);
});
