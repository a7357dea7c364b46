import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_DEPTH, unstorableReason } from '../../src/api/storable-json';

// What JSON.parse accepts but PostgreSQL's jsonb refuses is found before an event is answered 2xx.

test('ordinary events pass, also with escapes PostgreSQL takes (é, emoji pairs, an escaped backslash before u0000)', () => {
  for (const text of [
    JSON.stringify({ id: 'cus_1', name: 'Zoë', n: 1.5e300, small: 2e-300 }),
    '{"name": "caf\\u00e9", "smile": "\\ud83d\\ude00", "path": "C:\\\\u0000dir"}',
    JSON.stringify({ code: 'E12345', text: 'x'.repeat(5000) }),
    '[' .repeat(MAX_DEPTH) + ']'.repeat(MAX_DEPTH),
  ]) {
    JSON.parse(text);
    assert.equal(unstorableReason(text), undefined, text.slice(0, 80));
  }
});

test('\\u0000, lone surrogates, deep nesting and numbers beyond numeric are refused with the reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['{"name": "nul\\u0000here"}', /\\u0000/],
    ['{"name": "\\ud800"}', /lone surrogate \\ud800/],
    ['{"name": "\\ud800\\u0041"}', /lone surrogate/],
    ['{"name": "x\\uDC00"}', /lone surrogate \\uDC00/],
    ['['.repeat(MAX_DEPTH + 1) + ']'.repeat(MAX_DEPTH + 1), /deeper than 1000/],
    ['{"n": 1e131072}', /numeric/],
    ['{"n": 0.5e-16383}', /numeric/],
  ];
  for (const [text, reason] of cases) {
    JSON.parse(text);
    assert.match(unstorableReason(text) ?? 'accepted', reason, text.slice(0, 60));
  }
  assert.equal(unstorableReason('{"n": 0e200000}'), undefined, 'zero with any exponent is zero');
  assert.equal(unstorableReason('{"n": 12e131070}'), undefined, '131,072 digits before the point still fit');
});
