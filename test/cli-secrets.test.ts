import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { generateKey } from '../src/secrets/keyring';
import { openSecret } from '../src/secrets/stored';
import { freshDatabase, startStack, waitFor, type Stack } from './support/harness';
import { assertNoSecret, HOOKSYNC_BIN, ROOT, runCli, secretForms, stackEnv, type CliResult } from './support/httpsync';
import { startReceiver, type Receiver } from './support/receiver';
import { customerEvent, postEvent } from './support/stripe';

/**
 * Secrets stay out of argv (shell history, `ps`) and off screens: the real CLI reads webhook
 * secrets and target URLs from stdin (`-`), a silent prompt, or the environment; what it shows of
 * a URL is `***:***`; and what it logs reaches stderr before it exits. A database of this file's
 * own, so that "no row" is checked against every row.
 */
describe('secrets out of argv (CLI)', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let stack: Stack;
  let receiver: Receiver;
  let receiver2: Receiver;
  const PASSWORD = 'Pw-argv-Lk3mN8bV2c';
  const PASSWORD2 = 'Pw-argv-second-Hq5wE7r';
  const SECRET = 'whsec_from_stdin_9aB8cD7eF6gH';
  const SECRET2 = 'whsec_from_env_1qW2eR3tY4uI';
  const outputs: string[] = [];

  const cli = async (args: string[], opts: { stdin?: string; env?: Record<string, string | undefined> } = {}) => {
    const r = await runCli(args, { env: stackEnv(stack, { HOOKSYNC_ENCRYPTION_KEY: stack.config.HOOKSYNC_ENCRYPTION_KEY, ...opts.env }), stdin: opts.stdin });
    outputs.push(`$ hooksync ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
    return r;
  };
  const ok = (r: CliResult) => assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const masked = (rcv: Receiver) => `https://***:***@127.0.0.1:${new URL(rcv.endpoint).port}/sync`;
  const webhookSecretOf = async (id: string) => {
    const { rows } = await stack.pool.query('SELECT webhook_secret FROM integrations WHERE id = $1', [id]);
    return rows[0].webhook_secret === null ? null : openSecret(stack.deps.keyring, 'integrations.webhook_secret', id, rows[0].webhook_secret);
  };
  /** Every row of the tables a refused command could touch, and every workflow of this database's integrations. */
  const everything = async () => {
    const integrations = (await stack.pool.query('SELECT * FROM integrations ORDER BY id')).rows;
    const targets = (await stack.pool.query('SELECT * FROM sync_targets ORDER BY id')).rows;
    const workflows: string[] = [];
    for (const { id } of integrations) {
      for await (const wf of stack.temporal.client.workflow.list({ query: `HooksyncIntegrationId = '${id}'` })) workflows.push(`${wf.workflowId} ${wf.status.name}`);
    }
    return JSON.stringify({ integrations, targets, workflows: workflows.sort() });
  };
  const refusedChangesNothing = async (runs: Array<() => Promise<CliResult>>, expect: RegExp[]) => {
    const before = await everything();
    const requests = receiver.requests.length + receiver2.requests.length;
    for (const [i, run] of runs.entries()) {
      const r = await run();
      assert.equal(r.code, 1, `refused: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, expect[i]!);
    }
    assert.equal(await everything(), before, 'no row changed and no workflow started');
    return receiver.requests.length + receiver2.requests.length - requests;
  };

  before(async () => {
    db = await freshDatabase();
    [stack, receiver, receiver2] = await Promise.all([
      startStack({ env: { DATABASE_URL: db.url, HOOKSYNC_ENCRYPTION_KEY: generateKey() } }),
      startReceiver({ user: 'argvuser', password: PASSWORD }),
      startReceiver({ user: 'argvuser2', password: PASSWORD2 }),
    ]);
  });
  after(async () => {
    await Promise.allSettled([stack?.close(), receiver?.close(), receiver2?.close()]);
    await db?.drop();
  });

  let integrationId: string;
  let targetId: string;

  test('--webhook-secret - reads the secret from stdin, shows none of it, and events signed with it are accepted', async () => {
    const r = await cli(['integrations', 'create', 'stripe_customer_v1', '--webhook-secret', '-', '--json'], { stdin: `${SECRET}\n` });
    ok(r);
    assert.match(r.stderr, /Webhook signing secret:/);
    integrationId = JSON.parse(r.stdout).id;
    assert.equal(await webhookSecretOf(integrationId), SECRET);
    const event = customerEvent({ type: 'customer.created', id: 'cus_argv_1', created: Math.floor(Date.now() / 1000) });
    assert.equal((await postEvent(stack.apiUrl, integrationId, event, SECRET)).status, 200);
  });

  test('HOOKSYNC_WEBHOOK_SECRET is read when --webhook-secret is left out, by create and by update', async () => {
    const created = await cli(['integrations', 'create', 'stripe_customer_v1', '--json'], { env: { HOOKSYNC_WEBHOOK_SECRET: SECRET2 } });
    ok(created);
    assert.equal(await webhookSecretOf(JSON.parse(created.stdout).id), SECRET2);
    const updated = await cli(['integrations', 'update', integrationId], { env: { HOOKSYNC_WEBHOOK_SECRET: SECRET2 } });
    ok(updated);
    assert.match(updated.stdout, /Webhook secret of svi_\w+ updated/);
    assert.equal(await webhookSecretOf(integrationId), SECRET2);
    ok(await cli(['integrations', 'update', integrationId, '--webhook-secret', '-'], { stdin: `${SECRET}\n` }));
    assert.equal(await webhookSecretOf(integrationId), SECRET);
  });

  test('on a terminal, --webhook-secret - prompts and shows nothing of what is typed', async () => {
    const typed = 'whsec_typed_on_a_terminal_7Yt6';
    // util-linux `script` gives the CLI a pseudo-terminal; what goes to its stdin is typed there.
    const env = stackEnv(stack, { HOOKSYNC_ENCRYPTION_KEY: stack.config.HOOKSYNC_ENCRYPTION_KEY });
    const child = spawn('script', ['-qec', `${process.execPath} ${HOOKSYNC_BIN} integrations update ${integrationId} --webhook-secret -`, '/dev/null'], {
      cwd: ROOT,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (screen += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (screen += c));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      await waitFor(() => Promise.resolve(screen.includes('Webhook signing secret:')), { timeoutMs: 30_000, what: 'the prompt' });
      child.stdin.write(`${typed}\r`);
      assert.equal(await exited, 0, screen);
    } finally {
      clearTimeout(timer);
    }
    assert.ok(!screen.includes(typed) && !screen.includes(typed.slice(6)), `nothing of the secret on the terminal: ${JSON.stringify(screen)}`);
    assert.equal(await webhookSecretOf(integrationId), typed);
    ok(await cli(['integrations', 'update', integrationId, '--webhook-secret', '-'], { stdin: `${SECRET}\n` }));
  });

  test('a refused webhook secret from stdin or the environment changes no row', async () => {
    const requests = await refusedChangesNothing(
      [
        () => cli(['integrations', 'update', integrationId, '--webhook-secret', '-'], { stdin: 'sk_live_not_a_webhook_secret\n' }),
        () => cli(['integrations', 'update', integrationId, '--webhook-secret', '-'], { stdin: '' }),
        () => cli(['integrations', 'create', 'stripe_customer_v1', '--webhook-secret', '-'], { stdin: '\n' }),
        () => cli(['integrations', 'create', 'stripe_customer_v1'], { env: { HOOKSYNC_WEBHOOK_SECRET: 'not a secret' } }),
        () => cli(['integrations', 'update', integrationId]),
      ],
      [/looks like whsec_/, /no webhook secret given/, /no webhook secret given/, /looks like whsec_/, /give --webhook-secret or --rate-limit \(the secret also through HOOKSYNC_WEBHOOK_SECRET/],
    );
    assert.equal(requests, 0);
  });

  test('httpsync create takes the URL from HOOKSYNC_TARGET_URL or from stdin with --url -, and shows it as ***:***', async () => {
    const fromEnv = await cli(['httpsync', 'create', integrationId, '--period', '3600'], { env: { HOOKSYNC_TARGET_URL: receiver.url } });
    ok(fromEnv);
    assert.ok(fromEnv.stdout.includes(`will be synchronized to ${masked(receiver)}`), fromEnv.stdout);
    assert.doesNotMatch(fromEnv.stdout + fromEnv.stderr, /Enter the HTTP endpoint/, 'no prompt when the environment holds the URL');
    const fromStdin = await cli(['httpsync', 'create', integrationId, '--url', '-', '--period', '3600', '--json'], { stdin: `${receiver.url}\n` });
    ok(fromStdin);
    const t = JSON.parse(fromStdin.stdout);
    targetId = t.id;
    assert.equal(t.url, masked(receiver));
    const row = (await stack.pool.query('SELECT url, url_masked FROM sync_targets WHERE id = $1', [targetId])).rows[0];
    assert.equal(openSecret(stack.deps.keyring, 'sync_targets.url', targetId, row.url), receiver.url);
    assert.equal(row.url_masked, masked(receiver));
    // The verification POST was signed with the secret shown.
    const verification = receiver.requests.filter((r) => r.headers['hooksync-verification']).at(-1)!;
    assert.deepEqual(new Webhook(t.signing_secret).verify(verification.raw, verification.headers as Record<string, string>), verification.body);
  });

  test('httpsync update reads a new URL from stdin with --url -, or when nothing else is changed', async () => {
    const r = await cli(['httpsync', 'update', targetId, '--url', '-', '--json'], { stdin: `${receiver2.url}\n` });
    ok(r);
    assert.equal(JSON.parse(r.stdout).url, masked(receiver2));
    assert.ok(receiver2.requests.some((q) => q.headers['hooksync-verification'] && q.authorized), 'the new URL was verified');
    const back = await cli(['httpsync', 'update', targetId], { stdin: `${receiver.url}\n` });
    ok(back);
    assert.match(back.stderr, /Enter the HTTP endpoint that hooksync should sync data to:/);
    assert.ok(back.stdout.includes(masked(receiver)), back.stdout);
    // With other changes and no --url, the URL stays and nothing is read.
    const period = await cli(['httpsync', 'update', targetId, '--period', '1800', '--json'], { stdin: `${receiver2.url}\n` });
    ok(period);
    assert.equal(JSON.parse(period.stdout).url, masked(receiver));
  });

  test('a refused URL from stdin or the environment changes no row, starts no workflow', async () => {
    const wrong = receiver2.url.replace(PASSWORD2, 'wrong-password');
    const requests = await refusedChangesNothing(
      [
        () => cli(['httpsync', 'create', integrationId, '--url', '-'], { stdin: `${wrong}\n` }),
        () => cli(['httpsync', 'create', integrationId], { env: { HOOKSYNC_TARGET_URL: 'https://no-credentials.example/sync' } }),
        () => cli(['httpsync', 'create', integrationId, '--url', '-'], { stdin: '' }),
        () => cli(['httpsync', 'update', targetId, '--url', '-'], { stdin: `${wrong}\n` }),
        () => cli(['httpsync', 'update', targetId], { stdin: '\n' }),
      ],
      [/verification POST .* failed: HTTP 401/, /Basic Auth credentials/, /no URL given/, /verification POST .* failed: HTTP 401/, /no URL given/],
    );
    assert.equal(requests, 2, 'only the two verification POSTs to the wrong credentials went out');
  });

  test('nothing the CLI printed holds a secret; what it logs reaches stderr before it exits', async () => {
    assertNoSecret(outputs.join('\n'), [SECRET, SECRET2, ...secretForms('argvuser', PASSWORD), ...secretForms('argvuser2', PASSWORD2)], 'the CLI output');
    // A failing command exits at once (process.exit): its debug log line is written out first.
    const r = await cli(['httpsync', 'info', 'hst_doesnotexist'], { env: { LOG_LEVEL: 'debug' } });
    assert.equal(r.code, 1);
    const lines = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    const logged = lines.find((l) => l.msg === 'the command failed');
    assert.ok(logged, `the log line arrived: ${r.stderr}`);
    assert.equal(logged.code, 'not_found');
    assert.match(logged.err.stack, /no HTTP Sync target hst_doesnotexist/);
  });
});
