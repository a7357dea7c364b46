import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';
import { createIntegration, type IntegrationView } from '../src/services/integrations';
import { createTarget } from '../src/services/targets';
import { setPaused, triggerTarget } from '../src/services/target-signals';
import { type TargetView } from '../src/services/target-view';
import { httpSyncWorkflowId, ingestWorkflowId } from '../src/contract/names';
import { startStack, waitFor, type Stack } from './support/harness';
import { findChromium } from './support/browser';
import { startReceiver, type Receiver } from './support/receiver';
import { customerEvent, postEvent } from './support/stripe';

/**
 * The Temporal Web UI of this test run, driven by a real browser (the system's Chromium, or the
 * one the project brings, through playwright-core): a target's workflow is found through the workflow list, and its summary,
 * current details and deliveries read as the README says. Screenshots go to test-results/ui/ for
 * people to look at.
 */

const SHOTS = path.join(__dirname, '..', 'test-results', 'ui');
const SECRET = 'whsec_ui_tests_0123456789abcdef';
const NAMESPACE = process.env.TEMPORAL_NAMESPACE || 'default';
// A receiver that fails with markup in its answer: none of it may reach the UI (nor be rendered).
const NASTY_ERROR_BODY = { error: '<b>*down*</b> for _maintenance_' };
const STEP_MS = 30_000;

function requireUi(): string {
  const ui = process.env.HOOKSYNC_TEST_TEMPORAL_UI;
  if (!ui) {
    throw new Error(
      'HOOKSYNC_TEST_TEMPORAL_UI is not set: run the tests with `npm test`, which starts the Temporal dev server with its UI ' +
        '(with TEMPORAL_ADDRESS given, set HOOKSYNC_TEST_TEMPORAL_UI to that server\'s UI too)',
    );
  }
  return ui.replace(/\/+$/, '');
}

/** The text of each Markdown frame (/render?content=…) the UI shows on the page: summary, details, current details. */
async function markdownFrames(page: Page): Promise<Array<{ frame: Frame; text: string }>> {
  const frames = page.frames().filter((f) => f !== page.mainFrame() && f.url().includes('/render?'));
  return Promise.all(frames.map(async (frame) => ({ frame, text: await frame.locator('body').innerText().catch(() => '') })));
}

/**
 * Whether the frame shows its last line of text: the UI sizes the frame itself (and cuts what does
 * not fit), so a line below the frame's bottom is a line nobody sees.
 */
async function lastLineVisible(frame: Frame): Promise<string | true> {
  const m = await frame.evaluate(() => {
    const doc = (globalThis as any).document;
    const walker = doc.createTreeWalker(doc.body, 4 /* NodeFilter.SHOW_TEXT */);
    let last: any;
    for (let n = walker.nextNode(); n; n = walker.nextNode()) if (n.textContent.replace(/[\s\u00a0]/g, '') !== '') last = n;
    const range = doc.createRange();
    if (last) range.selectNodeContents(last);
    return { text: last?.textContent as string | undefined, bottom: last ? (range.getBoundingClientRect().bottom as number) : 0, frame: (globalThis as any).innerHeight as number };
  });
  return m.bottom <= m.frame || `the last line ("${m.text}") ends at ${Math.round(m.bottom)} px in a ${m.frame} px frame`;
}

/** Loads `url` (a filtered workflow list) until `link` shows: visibility is eventually consistent. */
async function listUntil(page: Page, url: string, link: ReturnType<Page['getByRole']>, what: string): Promise<void> {
  await page.goto(url);
  await waitFor(
    async () => {
      if (await link.first().waitFor({ timeout: 5_000 }).then(() => true, () => false)) return true;
      await page.reload();
      return false;
    },
    { what, timeoutMs: STEP_MS, intervalMs: 0 },
  );
}

async function frameWith(page: Page, what: string, test: (text: string) => boolean): Promise<{ frame: Frame; text: string }> {
  return waitFor(async () => (await markdownFrames(page)).find((f) => test(f.text)), { what, timeoutMs: STEP_MS, intervalMs: 250 });
}

describe('the Temporal UI shows each target and ingest shard', { timeout: 240_000 }, () => {
  let ui: string;
  let stack: Stack;
  let good: Receiver;
  let failing: Receiver;
  let integration: IntegrationView;
  let target: TargetView;
  let broken: TargetView;
  let browser: Browser;
  let page: Page;

  const shot = async (name: string) => {
    const file = path.join(SHOTS, name);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  };

  before(async () => {
    // A missing browser or UI fails the file with what to do: an error, never a skip.
    // Found (and, the bundled one, unpacked) while the stack starts; awaited before the launch.
    const browserFound = findChromium();
    browserFound.catch(() => {});
    ui = requireUi();
    fs.mkdirSync(SHOTS, { recursive: true });
    [stack, good, failing] = await Promise.all([startStack(), startReceiver({ user: 'ui', password: 'ui-pass-Secr3t' }), startReceiver({ user: 'ui2', password: 'ui2-pass-Secr3t' })]);
    integration = await createIntegration(stack.deps, { service: 'stripe_customer_v1', webhookSecret: SECRET });
    // Seven customers through the real ingest path (API → ingest workflows → table).
    for (let i = 0; i < 7; i++) {
      const event = customerEvent({ type: 'customer.created', id: `cus_Ui${i}`, created: 1_760_000_000 + i, email: `ui${i}@example.com`, name: `UI ${i}` });
      const res = await postEvent(stack.apiUrl, integration.id, event, SECRET);
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    await waitFor(async () => (await stack.pool.query(`SELECT count(*)::int AS n FROM ${integration.table}`)).rows[0].n === 7, { what: 'the 7 rows' });
    // Pages of 3 rows: the 7 rows go as 3 pages. A long period, so the workflow then waits.
    target = await createTarget(stack.deps, integration.id, { url: good.url, periodSeconds: 3600, pageSize: 3, timeoutSeconds: 10, mode: 'on_insert' });
    // Rows of transactions still open anywhere in the cluster when the first sync read are held
    // back for a later sync: trigger until all are there.
    let last = Date.now();
    await waitFor(
      async () => {
        if (good.rows().length >= 7) return true;
        if (Date.now() - last > 2_000) {
          last = Date.now();
          await triggerTarget(stack.deps, target.id);
        }
        return false;
      },
      { what: 'the 7 rows at the receiver', intervalMs: 200 },
    );
    // Let the workflow record the delivery and go back to waiting before the UI looks.
    const handle = stack.temporal.client.workflow.getHandle(httpSyncWorkflowId(target.id));
    await waitFor(async () => (await handle.query<{ state: string; progress: { rowsDelivered: number } }>('status')).state === 'waiting' || undefined, {
      what: 'the target to wait again',
    });

    // The verification POST must pass: the receiver fails only after the target exists.
    failing.respondWith((req) => (Array.isArray(req.body?.rows) && req.body.rows.length === 0 ? { status: 200 } : { status: 500, body: NASTY_ERROR_BODY }));
    broken = await createTarget(stack.deps, integration.id, { url: failing.url, periodSeconds: 3600, pageSize: 50, timeoutSeconds: 10, mode: 'interval' });
    await waitFor(async () => failing.requests.filter((r) => r.status === 500).length >= 2 || undefined, { what: 'two failed POSTs', timeoutMs: 30_000 });

    // A fresh, throw-away profile (playwright's default): nothing from an earlier run.
    const { executablePath, env } = await browserFound;
    browser = await chromium.launch({
      executablePath,
      env: { ...process.env, ...env } as Record<string, string>,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.setDefaultTimeout(STEP_MS);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await Promise.allSettled([stack?.close(), good?.close(), failing?.close()]);
  });

  test('the workflow list finds the target by its HooksyncTargetId search attribute', async () => {
    await page.goto(`${ui}/namespaces/${NAMESPACE}/workflows`);
    await page.getByTestId('toggle-manual-query').click();
    const query = page.getByTestId('manual-search-input');
    await query.fill(`HooksyncTargetId="${target.id}"`);
    await page.getByTestId('manual-search-button').click();
    const wfId = httpSyncWorkflowId(target.id);
    // Visibility is eventually consistent: search again until the row shows.
    const row = page.getByRole('link', { name: wfId, exact: true });
    await waitFor(
      async () => {
        if (await row.isVisible()) return true;
        await page.getByTestId('manual-search-button').click();
        return false;
      },
      { what: `${wfId} in the filtered workflow list`, timeoutMs: STEP_MS, intervalMs: 1000 },
    );
    // Only this target: not the other target, not the ingest workflows.
    assert.equal(await page.getByRole('link', { name: /^httpsync-|^ingest-/ }).count(), 1, 'one workflow matches');
    await shot('01-workflow-list-filtered-by-target-id.png');

    await row.click();
    await page.waitForURL(new RegExp(`/workflows/${wfId}/[0-9a-f-]+/`));
    await page.getByText('httpSyncWorkflow', { exact: true }).first().waitFor();
  });

  test('its summary names the integration, table and masked host; its current details read as Markdown', async () => {
    await page.getByText('User Metadata', { exact: true }).first().click();
    const port = new URL(good.endpoint).port;
    const masked = `https://***:***@127.0.0.1:${port}/sync`;

    const summary = await frameWith(page, 'the summary', (t) => t.includes('HTTP Sync of'));
    assert.ok(summary.text.includes(integration.table), summary.text);
    assert.ok(summary.text.includes('stripe_customer_v1') && summary.text.includes(integration.id), summary.text);
    // Verbatim: Markdown would have eaten the asterisks (`***:***` turned bold).
    assert.ok(summary.text.includes(masked), `the masked URL verbatim in: ${summary.text}`);
    assert.ok(!summary.text.includes('ui-pass-Secr3t'));

    const details = await frameWith(page, 'the current details', (t) => t.includes('State:'));
    const text = details.text;
    assert.match(text, /State: waiting until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, new rows or a trigger/);
    // 3 pages of at most 3 rows (more when a sync found some rows held back).
    const pages = good.accepted().filter((p) => Array.isArray(p.body?.rows) && p.body.rows.length > 0).length;
    assert.ok(pages >= 3);
    assert.match(text, new RegExp(`Delivered: 7 rows in ${pages} pages \\(\\d+ syncs?\\); average POST \\d+ ms`));
    assert.ok(text.includes(`URL: ${masked}`), text);
    assert.match(text, /Cursor: \d+\/\d+/);
    assert.match(text, /Last success: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    assert.match(text, /Last error: –/);
    assert.match(text, /Next sync: \d{4}-\d\d-\d\d/);
    assert.match(text, /Settings: on insert, at least every 3600 s; pages of 3 rows; POST timeout 10 s/);
    // Rendered, not shown as source: labels are bold, no Markdown punctuation is left over, and
    // every line fits the frame the UI gives the details (no scrolling to find the last ones).
    assert.deepEqual(
      await details.frame.locator('strong').allInnerTexts(),
      ['State:', 'URL:', 'Delivered:', 'Cursor:', 'Last success:', 'Last error:', 'Next sync:', 'Settings:'],
    );
    // (The masked URL's *** is text, shown verbatim in a code span.)
    assert.ok(!/\*\*|\\$|\|/m.test(text.replace(masked, '')), `no Markdown source in: ${text}`);
    assert.equal(await lastLineVisible(details.frame), true, 'the current details fit their frame');

    // The activities and timers with their summaries, as the UI lists them.
    await page.getByText(/POST pages 1…: up to 3 rows each/).first().waitFor();
    // (A short recheck for rows held back by open transactions may come first.)
    await page.getByText(/wait \d+ (min|s)( for the next sync, new rows or a trigger|, then look again for rows held back)/).first().waitFor();
    await shot('02-target-summary-and-current-details.png');
  });

  test('its event history shows the deliveries with their summaries', async () => {
    await page.getByRole('tab', { name: /^History/ }).first().click();
    await page.waitForURL(/\/history/);
    // The compact timeline names each activity with its summary.
    await page.getByText(/deliverPages\s*•\s*POST pages 1…: up to 3 rows each/).first().waitFor();
    await shot('03-target-event-history.png');
    // The first activity's result: 3 pages of the 7 rows (the next ones come from later activities or not at all).
    const events = await stack.temporal.client.workflow.getHandle(httpSyncWorkflowId(target.id)).fetchHistory();
    const scheduled = events.events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'deliverPages');
    assert.ok(scheduled.length >= 1);
  });

  test('a failing target shows "retrying after <error> since …" with the error verbatim', async () => {
    const wfId = httpSyncWorkflowId(broken.id);
    const row = page.getByRole('link', { name: wfId, exact: true });
    await listUntil(page, `${ui}/namespaces/${NAMESPACE}/workflows?query=${encodeURIComponent(`HooksyncTargetId="${broken.id}"`)}`, row, `${wfId} in the list`);
    await row.click();
    await page.waitForURL(new RegExp(`/workflows/${wfId}/`));
    await page.getByText('User Metadata', { exact: true }).first().click();
    const port = new URL(failing.endpoint).port;
    // The status and its reason phrase: the receiver's (markup-laden) body is never shown.
    const error = `HTTP 500 Internal Server Error from 127.0.0.1:${port}`;
    const details = await frameWith(page, 'the retrying details', (t) => t.includes('State: retrying'));
    assert.ok(details.text.includes(`State: retrying after ${error} since `), details.text);
    assert.match(details.text, /; attempt \d+ at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    assert.ok(details.text.includes(`Last error: ${error} at `), details.text);
    assert.ok(!details.text.includes('maintenance'), 'the receiver\'s body is not shown');
    assert.match(details.text, /\(\d+ errors in all\)/);
    assert.match(details.text, /Delivered: 0 rows in 0 pages/);
    // The markup stayed text: no <b> element, no emphasis from the asterisks or underscores.
    assert.equal(await details.frame.locator('b, em').count(), 0);
    assert.equal(await lastLineVisible(details.frame), true, 'the retrying details fit their frame');
    // The retry timer says what it waits for.
    await page.getByText(/retry in \d+ s after: HTTP 500/).first().waitFor();
    assert.match(details.text, /Next sync: the retry at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    await shot('04-failing-target-retrying.png');
    // Enough failing for this file: its retries would only fill the log.
    await setPaused(stack.deps, broken.id, true);
  });

  test('an ingest workflow is found by HooksyncIntegrationId and shows its last upsert', async () => {
    const ingestRow = page.getByRole('link', { name: new RegExp(`^ingest-${integration.id}-\\d+$`) });
    const query = `HooksyncIntegrationId="${integration.id}" AND WorkflowType="ingestWorkflow"`;
    await listUntil(page, `${ui}/namespaces/${NAMESPACE}/workflows?query=${encodeURIComponent(query)}`, ingestRow, 'the ingest workflows in the list');
    const names = await ingestRow.allInnerTexts();
    // The seven customers hash to some of the 4 shards; no target workflow matches this query.
    assert.ok(names.length >= 1 && names.length <= 4, names.join(', '));
    assert.equal(await page.getByRole('link', { name: /^httpsync-/ }).count(), 0);
    await shot('05-ingest-workflows-of-the-integration.png');

    const first = names.sort()[0]!;
    assert.ok(first.startsWith(ingestWorkflowId(integration.id, 0).slice(0, -1)));
    await page.getByRole('link', { name: first, exact: true }).click();
    await page.waitForURL(new RegExp(`/workflows/${first}/`));
    await page.getByText('User Metadata', { exact: true }).first().click();
    const shard = Number(first.slice(first.lastIndexOf('-') + 1)) + 1;
    const summary = await frameWith(page, 'the ingest summary', (t) => /^Ingest /.test(t.trim()));
    assert.ok(summary.text.includes(integration.id) && summary.text.includes('stripe_customer_v1'), summary.text);
    assert.ok(summary.text.includes(`shard ${shard} of 4`), summary.text);
    const details = await frameWith(page, 'the ingest details', (t) => t.includes('Last batch:'));
    assert.match(details.text, /Last batch: upsert \d+ events?: \d+ applied, \d+ older discarded/);
    assert.equal(await lastLineVisible(details.frame), true, 'the totals row fits the frame');
    await shot('06-ingest-summary-and-details.png');
  });
});
