import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createIntegration, type IntegrationView } from '../src/services/integrations';
import { createTarget } from '../src/services/targets';
import { targetInfo } from '../src/services/target-info';
import { triggerTarget } from '../src/services/target-signals';
import { type TargetView } from '../src/services/target-view';
import { statusQuery } from '../src/contract/messages';
import { httpSyncWorkflowId } from '../src/contract/names';
import { startStack, waitFor, type Stack } from './support/harness';
import { startReceiver, type Receiver } from './support/receiver';
import { customerEvent, postEvent } from './support/stripe';

/**
 * `hooksync httpsync info` and `status --watch` as an operator runs them: real child processes of
 * bin/hooksync.js against this test's stack, `--watch` both through a pipe and in a terminal
 * (script(1) gives it a pseudo-terminal), stopped with SIGINT / Ctrl-C.
 */

const ROOT = path.join(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'hooksync.js');
const SECRET = 'whsec_observability_cli_0123456789';
const ESC = '\x1b';
/** Transcripts of the watches, for people to look at (test-results/ is git-ignored). */
const TRANSCRIPTS = path.join(ROOT, 'test-results', 'cli');
const keep = (name: string, text: string) => {
  fs.mkdirSync(TRANSCRIPTS, { recursive: true });
  fs.writeFileSync(path.join(TRANSCRIPTS, name), text);
};

interface Child {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(command: string, args: string[], env: NodeJS.ProcessEnv): Child {
  const proc = spawn(command, args, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('close', (code, signal) => resolve({ code, signal })));
  return { proc, stdout: () => out, stderr: () => err, exited };
}

async function exitOf(child: Child, what: string, ms = 20_000) {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      child.exited,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not exit within ${ms} ms; its output:\n${child.stdout().slice(-3000)}\n${child.stderr()}`)), ms))),
    ]);
  } finally {
    // A pending timer would keep this file's process alive for up to `ms` after its last test.
    clearTimeout(timer);
  }
}

/** Without colors and cursor movements: what a person reads. */
const plain = (s: string) => s.replace(/\x1b\[[0-9;?]*[a-zA-Z]/g, '');

/** Waits until `test` holds for the child's output; on time-out, says what the output was. */
async function outputUntil(child: Child, test: (out: string) => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  try {
    await waitFor(async () => test(child.stdout()) || undefined, { what, timeoutMs });
  } catch (err) {
    throw new Error(`${(err as Error).message}; the output so far:\n${JSON.stringify(child.stdout().slice(-3000))}\nstderr: ${child.stderr()}`);
  }
}

/** The last frame of a watch's output (each starts with its header line). */
const lastFrame = (out: string, id: string) => out.slice(out.lastIndexOf(`hooksync httpsync status ${id}`));

describe('hooksync httpsync info and status --watch', { timeout: 300_000 }, () => {
  let stack: Stack;
  let receiver: Receiver;
  let integration: IntegrationView;
  let target: TargetView;
  let seq = 0;
  let env: NodeJS.ProcessEnv;

  const rows = async () => (await stack.pool.query(`SELECT count(*)::int AS n FROM ${integration.table}`)).rows[0].n as number;
  /** `n` new customers through the real ingest path; resolves once their rows are in the table. */
  const addCustomers = async (n: number) => {
    const expected = (await rows()) + n;
    await Promise.all(
      Array.from({ length: n }, async () => {
        const i = ++seq;
        const res = await postEvent(stack.apiUrl, integration.id, customerEvent({ type: 'customer.created', id: `cus_Watch${i}`, created: 1_760_000_000 + i, email: `w${i}@example.com` }), SECRET);
        assert.equal(res.status, 200, JSON.stringify(res.body));
      }),
    );
    await waitFor(async () => (await rows()) === expected, { what: `${expected} rows in the table` });
  };
  const cli = async (...args: string[]) => {
    const child = start(process.execPath, [BIN, 'httpsync', ...args], env);
    const { code } = await exitOf(child, `hooksync httpsync ${args.join(' ')}`, 60_000);
    return { code, stdout: child.stdout(), stderr: child.stderr() };
  };
  /**
   * Triggers syncs until `done`: rows of transactions that were still open somewhere in the
   * cluster when a sync read its page are held back (the cursor never passes them) and go with the
   * next sync; on a busy shared PostgreSQL one trigger may not take them all.
   */
  const syncUntil = async (done: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000) => {
    let last = 0;
    await waitFor(
      async () => {
        if (await done()) return true;
        if (Date.now() - last > 2_000) {
          last = Date.now();
          await triggerTarget(stack.deps, target.id);
        }
        return false;
      },
      { what, timeoutMs, intervalMs: 200 },
    );
  };
  const waitingAgain = () =>
    waitFor(
      async () => {
        const s = await stack.temporal.client.workflow.getHandle(httpSyncWorkflowId(target.id)).query(statusQuery);
        return s.state === 'waiting' || undefined;
      },
      { what: 'the target to wait again' },
    );

  before(async () => {
    [stack, receiver] = await Promise.all([startStack(), startReceiver({ user: 'watch', password: 'watch-Secr3t-pw' })]);
    env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      SHELL: '/bin/sh',
      DATABASE_URL: stack.config.DATABASE_URL,
      TEMPORAL_ADDRESS: stack.config.TEMPORAL_ADDRESS,
      TEMPORAL_NAMESPACE: stack.config.TEMPORAL_NAMESPACE,
      HOOKSYNC_TASK_QUEUE: stack.config.HOOKSYNC_TASK_QUEUE,
      HOOKSYNC_HOME: process.env.HOOKSYNC_HOME,
      NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS,
      LOG_LEVEL: 'warn',
      TERM: 'xterm',
    };
    integration = await createIntegration(stack.deps, { service: 'stripe_customer_v1', webhookSecret: SECRET });
    // An empty table at first; pages of 3; it syncs on trigger (the period is an hour).
    target = await createTarget(stack.deps, integration.id, { url: receiver.url, periodSeconds: 3600, pageSize: 3, timeoutSeconds: 10, mode: 'interval' });
    await waitingAgain();
  });
  after(async () => {
    await Promise.allSettled([stack?.close(), receiver?.close()]);
  });

  test('info shows average POST latency, rows per minute, errors and the last one, rows waiting and lag', async () => {
    await addCustomers(6);
    await syncUntil(() => receiver.rows().length === 6, 'the 6 rows delivered');
    // 2 pages of 3 (or more, when a sync found some rows held back).
    const pages = receiver.accepted().filter((p) => Array.isArray(p.body?.rows) && p.body.rows.length > 0).length;
    await waitingAgain();
    // Then the receiver fails: two new rows wait, with their age.
    receiver.respondWith(() => ({ status: 500, body: { error: 'disk full' } }));
    await addCustomers(2);
    await syncUntil(async () => (await targetInfo(stack.deps, target.id)).error_count >= 1, 'the failure in the status');

    const j = await cli('info', target.id, '--json');
    assert.equal(j.code, 0, j.stderr);
    const info = JSON.parse(j.stdout);
    assert.equal(info.rows_delivered, 6);
    assert.equal(info.pages_delivered, pages);
    assert.ok(info.avg_post_ms > 0, `avg_post_ms ${info.avg_post_ms}`);
    assert.equal(info.rows_per_minute, 6, 'the 6 rows went within the last minute');
    assert.ok(info.error_count >= 1);
    // The status and its reason phrase, never the receiver's body.
    assert.match(info.last_error, /^HTTP 500 Internal Server Error from 127\.0\.0\.1:\d+$/);
    assert.equal(info.rows_waiting, 2);
    assert.ok(info.lag_seconds > 0, `lag ${info.lag_seconds}`);
    assert.ok(['retrying', 'delivering'].includes(info.state), info.state);

    const h = await cli('info', target.id);
    assert.equal(h.code, 0, h.stderr);
    const text = h.stdout;
    assert.ok(!text.includes(ESC), 'no colors or cursor codes into a pipe');
    assert.ok(!text.includes('watch-Secr3t-pw'));
    assert.match(text, new RegExp(`│ delivered\\s+│ 6 rows in ${pages} pages, \\d+ syncs?\\s+│`));
    assert.match(text, /│ rows per minute\s+│ 6 \(last minute\)\s+│/);
    assert.match(text, /│ average POST\s+│ \d+ ms\s+│/);
    assert.match(text, /│ errors\s+│ \d+; last: HTTP 500 Internal Server Error from 127\.0\.0\.1:\d+ at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \((?:now|\d+ s ago)\)/);
    assert.match(text, new RegExp(`│ state\\s+│ (retrying since .* after: HTTP 500|delivering page ${pages + 1})`));
    assert.match(text, /│ backlog\s+│ 2 rows waiting/);
    assert.match(text, /│ lag\s+│ \d+ s: the oldest waiting row changed that long ago/);

    // Back to normal for the next tests.
    receiver.respondWith(() => ({ status: 200 }));
    await syncUntil(async () => (await targetInfo(stack.deps, target.id)).rows_waiting === 0, 'the backlog drained');
    await waitingAgain();
  });

  test('status --watch through a pipe: a view per second, a progress bar while the backlog drains; SIGINT ends it with 0', async () => {
    // Slow pages: 24 rows in 8 pages of 3, half a second each.
    receiver.respondWith(() => ({ status: 200, delayMs: 500 }));
    const watch = start(process.execPath, [BIN, 'httpsync', 'status', target.id, '--watch', '--interval', '1'], env);
    try {
      await outputUntil(watch, (out) => /0 rows waiting: up to date/.test(out), 'the first view', 60_000);
      // Rows arrive and wait (no sync before the trigger): the bar appears at 0%.
      await addCustomers(24);
      await outputUntil(watch, (out) => /^backlog \[░+\] 0% \| 0\/24 rows \| .* rows\/min \| waiting for the next sync$/m.test(out), 'the bar at 0/24');
      await syncUntil(() => /^backlog \[█+\] 100% \| 24\/24 rows \| [\d,]+ rows\/min \| done$/m.test(watch.stdout()), 'the bar at 100%', 60_000).catch((err: Error) => {
        throw new Error(`${err.message}; the output so far:\n${watch.stdout().slice(-3000)}`);
      });
      // After the drain the view shows it all delivered, and no bar.
      await outputUntil(
        watch,
        (out) => {
          const frame = lastFrame(out, target.id);
          return /0 rows waiting: up to date/.test(frame) && /│ delivered\s+│ 32 rows in/.test(frame) && !/^backlog \[/m.test(frame);
        },
        'a view after the drain',
      );
    } finally {
      watch.proc.kill('SIGINT');
    }
    const { code, signal } = await exitOf(watch, 'status --watch');
    const out = watch.stdout();
    keep('status-watch-pipe.txt', out);
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, watch.stderr());
    assert.equal(watch.stderr(), '', 'nothing on stderr: no stack trace');
    assert.ok(!out.includes(ESC), 'no terminal codes into a pipe');
    assert.ok(out.endsWith('\n'));
    // Several views, each the whole table.
    const views = out.split(`hooksync httpsync status ${target.id}`).length - 1;
    assert.ok(views >= 3, `${views} views`);
    for (const label of ['state', 'cursor', 'delivered', 'rows per minute', 'average POST', 'last success', 'errors', 'backlog', 'lag']) {
      assert.match(out, new RegExp(`│ ${label}\\s+│`), label);
    }
    // The bar went up in steps, never down.
    const percents = [...out.matchAll(/^backlog \[[█░]+\] (\d+)% \| (\d+)\/24 rows/gm)].map((m) => Number(m[1]));
    assert.deepEqual([...percents].sort((a, b) => a - b), percents, `the bar only goes up: ${percents.join(', ')}`);
    assert.equal(percents[0], 0);
    assert.equal(percents[percents.length - 1], 100);
    receiver.respondWith(() => ({ status: 200 }));
  });

  test('status --watch in a terminal: redraws in place with the cursor hidden; Ctrl-C shows it again and exits 0', async () => {
    // script(1) (util-linux, in every Debian) runs the command in a pseudo-terminal; a ^C written
    // to it becomes SIGINT for the command, as when a person presses Ctrl-C.
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    // `exec`: the shell that script(1) starts must not stay between (it would die of the SIGINT itself).
    const command = 'exec ' + [process.execPath, BIN, 'httpsync', 'status', target.id, '--watch', '--interval', '1'].map(quote).join(' ');
    const term = start('script', ['-q', '-e', '-f', '-c', command, '/dev/null'], env);
    try {
      // Two frames drawn from the top of the screen.
      await outputUntil(term, (out) => out.split(`${ESC}[H`).length > 2 && /│ backlog/.test(plain(lastFrame(out, target.id))), 'two frames in the terminal', 60_000);
    } finally {
      term.proc.stdin!.write('\x03');
    }
    const { code } = await exitOf(term, 'status --watch in a terminal');
    const out = term.stdout();
    keep('status-watch-terminal.typescript', out);
    assert.equal(code, 0, `exit code of the watch (through script -e); output:\n${JSON.stringify(out.slice(-1500))}`);
    assert.ok(out.includes(`${ESC}[?25l`), 'the cursor is hidden while watching');
    assert.ok(out.lastIndexOf(`${ESC}[?25h`) > out.lastIndexOf(`${ESC}[?25l`), 'and shown again at the end');
    // (An error thrown looks like "TypeError: …"; the last error shown, "HTTP 500 Internal Server Error from …", is not one.)
    assert.ok(!/\w*Error: |\n\s+at /.test(plain(out)), 'no error or stack trace');
    assert.ok(plain(out).includes('rows per minute') && plain(out).includes('average POST'));
  });
});
