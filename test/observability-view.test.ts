import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { renderInfo, when } from '../cli/render';
import type { TargetInfo } from '../src/services/target-info';
import { forTemporalUi, mdCode } from '../src/text/markdown';
import { deliverySummary, detailsMarkdown, stateLine, waitSummary } from '../src/workflows/httpsync-view';
import { summaryMarkdown } from '../src/contract/summaries';
import type { HttpSyncStatus } from '../src/contract/httpsync';

/** The texts the Temporal UI and the CLI show, as pure functions (the UI and CLI tests show them in use). */

const labels = { integrationId: 'svi_abc', service: 'stripe_customer_v1', table: 'stripe_customer_v1_16cd', maskedUrl: 'https://***:***@api.example.com/hooksync' };

const status = (over: Partial<HttpSyncStatus> = {}): HttpSyncStatus => ({
  targetId: 'hst_x',
  state: 'waiting',
  settings: { periodSeconds: 60, pageSize: 200, timeoutSeconds: 30, mode: 'interval', paused: false },
  progress: { cursor: { txid: '7301', seq: '12' }, rowsDelivered: 1, pagesDelivered: 1, postCount: 2, postMsTotal: 50, syncs: 3, errorCount: 0, lastSuccessAt: '2026-11-27T12:00:01.234Z' },
  nextSyncAt: '2026-11-27T12:01:01.234Z',
  rowsPerMinute: 0,
  maskedUrl: labels.maskedUrl,
  ...over,
});

describe('Markdown for the Temporal UI', () => {
  test('mdCode keeps any text verbatim in a code span', () => {
    assert.equal(mdCode('https://***:***@host/p'), '`https://***:***@host/p`');
    assert.equal(mdCode('a `b` c'), '``a `b` c``');
    assert.equal(mdCode('`x`'), '`` `x` ``');
    assert.equal(mdCode('two\n  lines'), '`two lines`');
    assert.equal(mdCode('  '), '–');
  });

  test('the summary names table, integration and the masked URL, clipped when long', () => {
    assert.equal(summaryMarkdown(labels), 'HTTP Sync of `stripe_customer_v1_16cd` (stripe_customer_v1 `svi_abc`) to `https://***:***@api.example.com/hooksync`');
    const long = summaryMarkdown({ ...labels, maskedUrl: `https://***:***@h/${'p'.repeat(500)}` });
    assert.ok(long.length < 260 && long.endsWith('…`'), long);
  });

  test('activity and timer summaries', () => {
    assert.equal(deliverySummary(17, 200), 'POST pages 17…: up to 200 rows each');
    assert.equal(waitSummary(60_000, 'interval'), 'wait 60 s for the next sync or a trigger');
    assert.equal(waitSummary(3_600_000, 'on_insert'), 'wait 60 min for the next sync, new rows or a trigger');
  });

  test('details: one bold label per line, hard line breaks, and a spacer for the UI\'s frame', () => {
    const md = detailsMarkdown(status());
    assert.ok(md.endsWith('\n\n\u00a0'), 'ends with the spacer paragraph');
    assert.equal(forTemporalUi('x'), 'x\n\n\u00a0');
    const lines = md.replace(/\n\n\u00a0$/, '').split('\\\n');
    assert.deepEqual(lines.map((l) => /^\*\*([^*]+):\*\* /.exec(l)?.[1]), ['State', 'URL', 'Delivered', 'Cursor', 'Last success', 'Last error', 'Next sync', 'Settings']);
    assert.equal(lines[0], '**State:** waiting until 2026-11-27 12:01:01 UTC or a trigger');
    assert.equal(lines[1], '**URL:** `https://***:***@api.example.com/hooksync`');
    assert.equal(lines[2], '**Delivered:** 1 row in 1 page (3 syncs); average POST 25 ms');
    assert.equal(lines[3], '**Cursor:** `7301/12`');
  });

  test('details: a reset, a restart and warnings each say so', () => {
    const md = detailsMarkdown(
      status({ resetAt: '2026-11-27T11:00:00.000Z', restartedAt: '2026-11-27T11:30:00.000Z', warnings: ['the cursor 9/1 is ahead of this database'] }),
    );
    assert.ok(md.includes("**Cursor:** `7301/12` (reset to the start at 2026-11-27 11:00:00 UTC; restarted from PostgreSQL's cursor at 2026-11-27 11:30:00 UTC)"), md);
    assert.ok(md.includes('**Warning:** `the cursor 9/1 is ahead of this database`'), md);
  });

  test('a failure shows verbatim, in code spans, with when the next attempt is', () => {
    const error = 'HTTP 500 from h: <b>*x*</b> `y`';
    const s = status({
      state: 'retrying',
      retry: { since: '2026-11-27T12:00:00.000Z', attempts: 2, nextAttemptAt: '2026-11-27T12:00:04.000Z', error },
      progress: { ...status().progress, errorCount: 2, lastError: error, lastErrorAt: '2026-11-27T12:00:02.000Z' },
    });
    const md = detailsMarkdown(s);
    assert.ok(md.includes('**State:** retrying after `` HTTP 500 from h: <b>*x*</b> `y` `` since 2026-11-27 12:00:00 UTC; attempt 3 at 2026-11-27 12:00:04 UTC'), md);
    assert.ok(md.includes('**Last error:** `` HTTP 500 from h: <b>*x*</b> `y` `` at 2026-11-27 12:00:02 UTC (2 errors in all)'), md);
    assert.ok(md.includes('**Next sync:** the retry at 2026-11-27 12:00:04 UTC'), md);
    // The plain state line (for terminals) keeps the text as it is.
    assert.match(stateLine(s), /^retrying after HTTP 500 from h: <b>\*x\*<\/b> `y` since /);
  });
});

describe('the info view', () => {
  const info: TargetInfo = {
    id: 'hst_x',
    integration_id: 'svi_abc',
    integration_service: 'stripe_customer_v1',
    table: 'stripe_customer_v1_16cd',
    url: 'https://***:***@api.example.com/hooksync',
    period_seconds: 60,
    page_size: 200,
    timeout_seconds: 30,
    mode: 'interval',
    paused: false,
    match: null,
    fields: null,
    unmatched: 'skip',
    created_at: '2026-11-27T11:00:00.000Z',
    workflow_id: 'httpsync-hst_x',
    state: 'retrying',
    cursor: { txid: '7301', seq: '12' },
    filter_since: null,
    rows_delivered: 12_345,
    pages_delivered: 62,
    syncs: 9,
    avg_post_ms: 41.5,
    rows_per_minute: 1200,
    error_count: 3,
    last_error: 'no response from api.example.com within 30 s',
    last_error_at: '2026-11-27T11:59:30.000Z',
    last_success_at: '2026-11-27T11:59:00.000Z',
    next_sync_at: null,
    retry: { since: '2026-11-27T11:59:10.000Z', attempts: 3, nextAttemptAt: '2026-11-27T12:00:08.000Z', error: 'no response from api.example.com within 30 s' },
    retry_attempts: 3,
    next_attempt_at: '2026-11-27T12:00:08.000Z',
    rows_waiting: 600,
    rows_held_back: 2,
    lag_seconds: 95,
    workflow_status: 'RUNNING',
    resets: 0,
    reset_at: null,
    restarts: 0,
    restarted_at: null,
    restart_reason: null,
    warnings: [],
  };
  const now = Date.parse('2026-11-27T12:00:00.000Z');

  test('every figure, with times relative to now', () => {
    const text = renderInfo(info, { now, color: false });
    for (const [label, value] of [
      ['state', 'retrying since 2026-11-27 11:59:10 UTC (50 s ago) after: no response from api.example.com within 30 s; attempt 4 at 2026-11-27 12:00:08 UTC (in 8 s)'],
      ['delivered', '12,345 rows in 62 pages, 9 syncs'],
      ['rows per minute', '1,200 (last minute)'],
      ['average POST', '42 ms'],
      ['last success', '2026-11-27 11:59:00 UTC (60 s ago)'],
      ['errors', '3; last: no response from api.example.com within 30 s at 2026-11-27 11:59:30 UTC (30 s ago)'],
      ['backlog', '600 rows waiting (2 held back by open transactions); about 30 s to go at 1,200 rows/min'],
      ['lag', '95 s: the oldest waiting row changed that long ago'],
    ]) {
      assert.match(text, new RegExp(`│ ${label}\\s+│ ${value!.replace(/[()[\]+*?.]/g, '\\$&')}\\s+│`), label);
    }
    assert.ok(!text.includes('\x1b'), 'no colors when asked for none');
  });

  test('a filter gets a line: what matches, which fields, unmatched rows, and from which cursor', () => {
    assert.ok(!renderInfo(info, { now, color: false }).includes('filter'), 'no filter, no line');
    const text = renderInfo(
      { ...info, match: { plan: 'pro' }, fields: ['email', '/data/x'], unmatched: 'tombstone', filter_since: { txid: '7290', seq: '3' } },
      { now, color: false },
    );
    assert.match(text, /│ filter\s+│ rows whose data contains \{"plan":"pro"\}; fields pk, email, \/data\/x \(and the key, version time and deleted flag\); a row that does not match comes as a key-only tombstone; since cursor 7290\/3\s+│/);
  });

  test('a reset, a restart, a workflow that is not running and warnings each get a line', () => {
    const text = renderInfo(
      {
        ...info,
        state: 'not_running',
        workflow_status: 'TERMINATED',
        retry: null,
        resets: 2,
        reset_at: '2026-11-27T11:58:00.000Z',
        restarts: 1,
        restarted_at: '2026-11-27T11:59:00.000Z',
        restart_reason: 'self-repair: its workflow was terminated',
        warnings: ['the cursor 9/1 is ahead of this database'],
      },
      { now, color: false },
    );
    for (const [label, value] of [
      ['state', 'not running: its workflow is terminated; self-repair starts it again within a minute, or now with: hooksync httpsync restart hst_x'],
      ['reset', 'from the start at 2026-11-27 11:58:00 UTC (2 min ago); 2 resets in all'],
      ['restarted', '2026-11-27 11:59:00 UTC (60 s ago): self-repair: its workflow was terminated'],
      ['warning', 'the cursor 9/1 is ahead of this database'],
    ]) {
      assert.match(text, new RegExp(`│ ${label}\\s+│ ${value!.replace(/[()[\]+*?.]/g, '\\$&')}\\s+│`), label);
    }
  });

  test('long values wrap to the terminal width', () => {
    const text = renderInfo(info, { now, color: false, width: 70 });
    for (const line of text.split('\n')) assert.ok(line.length <= 70, `${line.length}: ${line}`);
    assert.match(text, /│ errors/);
  });

  test('relative times', () => {
    assert.equal(when('2026-11-27T12:00:42.000Z', now), '2026-11-27 12:00:42 UTC (in 42 s)');
    assert.equal(when('2026-11-27T11:58:00.000Z', now), '2026-11-27 11:58:00 UTC (2 min ago)');
    assert.equal(when(null, now), '–');
  });
});
