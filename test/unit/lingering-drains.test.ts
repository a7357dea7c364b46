import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LINGER_SLICE_MS, LingeringDrains } from '../../src/activities/lingering-drains';

describe('lingering drains (rows handed to a drain of this process)', () => {
  test('rows announced while a drain runs go to it; once it has left they do not', async () => {
    const drains = new LingeringDrains(4);
    assert.equal(drains.notify('t1'), false, 'no drain: the Temporal wake-up takes it');
    const linger = drains.enter('t1')!;
    assert.ok(linger);
    assert.equal(drains.enter('t1'), undefined, 'one registration per target');
    assert.equal(drains.notify('t1'), true);
    assert.equal(linger.pending, true);
    // Announced before the wait: it returns at once.
    assert.equal(await linger.wait(10_000, new AbortController().signal), true);
    linger.pending = false;
    const waiting = linger.wait(10_000, new AbortController().signal);
    assert.equal(drains.notify('t1'), true);
    assert.equal(await waiting, true);
    linger.leave();
    assert.equal(drains.notify('t1'), false);
    assert.equal(drains.size, 0);
  });

  test('a wait that times out leaves in the same turn: a later announcement is not lost in it', async () => {
    const drains = new LingeringDrains(4);
    const linger = drains.enter('t1')!;
    const started = Date.now();
    const woken = await linger.wait(30, new AbortController().signal);
    assert.equal(woken, false);
    assert.ok(Date.now() - started >= 25);
    assert.equal(drains.size, 0, 'left when the wait ended');
    assert.equal(drains.notify('t1'), false);
  });

  test('an aborted wait (the activity cancelled) ends it', async () => {
    const drains = new LingeringDrains(4);
    const linger = drains.enter('t1')!;
    const ac = new AbortController();
    const waiting = linger.wait(60_000, ac.signal);
    ac.abort();
    assert.equal(await waiting, false);
    assert.equal(drains.size, 0);
  });

  test('at most `max` drains register (each holds a connection); the slice grows with them', () => {
    const drains = new LingeringDrains(2);
    const a = drains.enter('a')!;
    assert.ok(drains.enter('b'));
    assert.equal(drains.enter('c'), undefined);
    assert.equal(drains.sliceMs(), 2 * LINGER_SLICE_MS.perDrain);
    a.leave();
    assert.ok(drains.enter('c'));
    const many = new LingeringDrains(1_000);
    for (let i = 0; i < 200; i++) many.enter(`t${i}`);
    assert.equal(many.sliceMs(), LINGER_SLICE_MS.max);
  });

  test('a drain that left after a newer one of the same target entered does not remove it', () => {
    const drains = new LingeringDrains(4);
    const old = drains.enter('t1')!;
    old.leave();
    const fresh = drains.enter('t1')!;
    old.leave();
    assert.equal(drains.notify('t1'), true);
    fresh.leave();
  });
});
