import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pageId } from '../../src/delivery/page';

describe('page ids', () => {
  const first = { txid: '1200', seq: '7' };
  const last = { txid: '1234', seq: '19' };

  test('generation 0 (never reset): the positions of the first and last row, as they always were', () => {
    assert.equal(pageId('hst_a', first, last), 'hst_a:1200.7-1234.19');
    assert.equal(pageId('hst_a', first, last, 0), 'hst_a:1200.7-1234.19');
  });

  test('after a reset the generation is part of the id: the same rows sent again get a new id', () => {
    assert.equal(pageId('hst_a', first, last, 1), 'hst_a:g1:1200.7-1234.19');
    assert.equal(pageId('hst_a', first, last, 12), 'hst_a:g12:1200.7-1234.19');
    const ids = new Set([0, 1, 2, 3].map((g) => pageId('hst_a', first, last, g)));
    assert.equal(ids.size, 4);
  });
});
