#!/usr/bin/env node
'use strict';
// `npm test [-- files or patterns…]`: starts the services every test file shares (one Temporal dev
// server, one fresh database, a TLS certificate, the workflow bundle), runs the files with Node's
// test runner, and stops it all again, also on Ctrl-C.
require('tsx/cjs');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const WORK = path.join(ROOT, '.hooksync', 'test');
// This run's own files (certificate, workflow bundle, Temporal's log): runs started side by side in
// one folder must not overwrite each other's (a test process trusts the certificate it read at start).
const RUN = path.join(WORK, `run-${process.pid}`);
const KEPT = 'kept by HOOKSYNC_KEEP_TEST_DB';
let testsDone = false;
let loggedAfterTests = false;
const log = (msg) => {
  if (testsDone) loggedAfterTests = true;
  process.stderr.write(`[test] ${msg}\n`);
};

/** Stop functions of what has been started, run newest first. */
const cleanups = [];
let interrupted = false;
let testRunner;

async function main() {
  const { flags, files, whole } = selectTestFiles(process.argv.slice(2));
  if (files.length === 0) {
    log('no test files match');
    return 1;
  }
  fs.mkdirSync(WORK, { recursive: true });
  removeStaleRunDirs();
  fs.mkdirSync(RUN, { recursive: true });
  const started = Date.now();
  buildToolsInBackground(files);
  // allSettled: when one fails, the others must still finish starting, so that cleanup stops them.
  const settled = await Promise.allSettled([startTemporal(), prepareDatabase(), makeCertificate(), bundleWorkflows(), whole ? compileDist() : undefined]);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  if (interrupted) return 130;
  const [temporal, databaseUrl, tls, bundle] = settled.map((s) => s.value);
  log(`services ready in ${((Date.now() - started) / 1000).toFixed(1)} s; running ${files.length} test file(s)`);

  const env = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE || 'default',
    NODE_EXTRA_CA_CERTS: tls.cert,
    HOOKSYNC_TEST_TLS_CERT: tls.cert,
    HOOKSYNC_TEST_TLS_KEY: tls.key,
    HOOKSYNC_TEST_TLS_TRUSTED: '1',
    HOOKSYNC_TEST_WORKFLOW_BUNDLE: bundle,
    // Never the state of a `hooksync dev` running in this folder.
    HOOKSYNC_HOME: path.join(WORK, 'home'),
    LOG_LEVEL: process.env.LOG_LEVEL || 'warn',
    // What the test files' processes print goes to files here (bin/test-reporter.mjs), not the terminal.
    HOOKSYNC_TEST_LOG_DIR: path.join(RUN, 'logs'),
  };
  if (temporal.uiUrl) env.HOOKSYNC_TEST_TEMPORAL_UI = temporal.uiUrl;
  // Tests deliver over HTTPS, as production does.
  delete env.HOOKSYNC_ALLOW_HTTP;
  // Their receivers listen on 127.0.0.1; every other non-public address stays refused (tests use 127.0.0.2 and others for that).
  env.HOOKSYNC_ALLOWED_TARGET_HOSTS = '127.0.0.1';
  if (process.stdout.isTTY && env.FORCE_COLOR === undefined) env.FORCE_COLOR = '1';
  return runTests(files, flags, env);
}

function selectTestFiles(args) {
  const flags = args.filter((a) => a.startsWith('-'));
  const patterns = args.filter((a) => !a.startsWith('-'));
  const all = walk(path.join(ROOT, 'test'))
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => path.relative(ROOT, f).split(path.sep).join('/'))
    .sort();
  if (patterns.length === 0) return { flags, files: longestFirst(all), whole: true };
  const files = new Set();
  for (const pattern of patterns) {
    const rel = path.relative(ROOT, path.resolve(pattern)).split(path.sep).join('/');
    let matches = fs.existsSync(pattern) && fs.statSync(pattern).isDirectory()
      ? all.filter((f) => f.startsWith(rel + '/'))
      : all.filter((f) => f === rel || globToRegExp(rel).test(f));
    // `npm test -- stack` as a shorthand for test/stack.test.ts.
    if (matches.length === 0 && !/[*?/]/.test(pattern)) matches = all.filter((f) => path.basename(f).includes(pattern));
    if (matches.length === 0) throw Object.assign(new Error(`no test file matches ${pattern}`), { usage: true });
    matches.forEach((f) => files.add(f));
  }
  return { flags, files: longestFirst([...files]) };
}

/**
 * The runner starts the files in the order it is given them, as many at once as the concurrency
 * allows: the longest first, so that no long file starts late and runs on alone at the end. The
 * times are those of a warm run of the whole suite (test/durations.json, seconds; refresh it from
 * the times a run prints when files are added or change much); a file not listed yet goes first.
 */
function longestFirst(files) {
  let durations = {};
  try {
    durations = JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'durations.json'), 'utf8'));
  } catch {
    // no list: the given order
  }
  const time = (f) => durations[f] ?? Infinity;
  return files.map((f, i) => ({ f, i })).sort((a, b) => time(b.f) - time(a.f) || a.i - b.i).map(({ f }) => f);
}

/** Run directories of earlier runs whose process is gone (kept after a failure, or killed). */
function removeStaleRunDirs() {
  for (const name of fs.readdirSync(WORK)) {
    const pid = Number(/^run-(\d+)$/.exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if (err.code === 'ESRCH') fs.rmSync(path.join(WORK, name), { recursive: true, force: true });
    }
  }
}

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? (e.name === 'node_modules' ? [] : walk(full)) : [full];
  });
}

function globToRegExp(glob) {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      re += glob[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += glob[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

async function startTemporal() {
  const { ensureSearchAttributes } = require('../src/temporal/client.ts');
  if (process.env.TEMPORAL_ADDRESS) {
    const { Connection } = require('@temporalio/client');
    const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS });
    try {
      await ensureSearchAttributes(connection, process.env.TEMPORAL_NAMESPACE || 'default');
    } finally {
      await connection.close();
    }
    log(`Temporal: ${process.env.TEMPORAL_ADDRESS} (TEMPORAL_ADDRESS)`);
    return { address: process.env.TEMPORAL_ADDRESS };
  }
  const { startTemporalDevServer } = require('../src/dev/temporal-server.ts');
  const logFile = path.join(RUN, 'temporal.log');
  fs.rmSync(logFile, { force: true });
  const server = await startTemporalDevServer({ port: 0, uiPort: 0, ui: true, logFile, log });
  cleanups.push(() => server.stop());
  log(`Temporal: dev server at ${server.address}, UI ${server.uiUrl} (log: ${path.relative(ROOT, logFile)})`);
  return server;
}

/**
 * Temporal's server and stripe-mock are needed by a few test files only: when a chosen file uses
 * them and they are not built yet, their Go builds start now, beside the Temporal CLI's, and go
 * on while the other files run; a file that needs one waits for its build (src/dev/go-build.ts).
 */
function buildToolsInBackground(files) {
  const uses = (support) => files.some((f) => fs.readFileSync(path.join(ROOT, f), 'utf8').includes(`./support/${support}'`));
  const builds = [];
  if (uses('cluster')) builds.push(require('../src/dev/temporal-cluster.ts').findTemporalServer(log));
  if (uses('stripe-mock')) builds.push(require('../src/dev/stripe-mock.ts').findStripeMock(log));
  // Awaited at the end, so that no build outlives the run; a failed one is reported by the file that needed it.
  const done = Promise.allSettled(builds);
  cleanups.push(() => done);
}

async function prepareDatabase() {
  const { createDatabase, dropDatabase, findServer, withAdmin } = require('../test/support/database.ts');
  const server = await findServer({ embeddedDir: path.join(ROOT, '.hooksync', 'test-pg'), local: process.env.HOOKSYNC_TEST_EMBEDDED_PG !== '1', log });
  if (server.stop) {
    cleanups.push(server.stop);
    await dropStaleTestDatabases(withAdmin, server.adminUrl);
  }
  const db = await createDatabase(server.adminUrl, 'hooksync_test');
  cleanups.push(async () => {
    if (process.env.HOOKSYNC_KEEP_TEST_DB !== '1') return dropDatabase(server.adminUrl, db.name);
    await withAdmin(server.adminUrl, (admin) => admin.query(`COMMENT ON DATABASE ${db.name} IS '${KEPT}'`));
    log(`keeping database ${db.name} on ${new URL(db.url).host} (HOOKSYNC_KEEP_TEST_DB=1)`);
  });
  const source = server.stop ? 'embedded, in .hooksync/test-pg' : server.source;
  log(`PostgreSQL: database ${db.name} on ${new URL(db.url).host} (${source})`);
  return db.url;
}

/** Only in the cluster the tests own: databases of runs that were killed before they could drop theirs. */
async function dropStaleTestDatabases(withAdmin, adminUrl) {
  await withAdmin(adminUrl, async (admin) => {
    const { rows } = await admin.query(
      `SELECT datname FROM pg_database d
        WHERE datname LIKE 'hooksync\\_test\\_%' AND shobj_description(oid, 'pg_database') IS DISTINCT FROM $1
          AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)`,
      [KEPT],
    );
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(datname)}`);
  });
}

/** One certificate for the test receivers; NODE_EXTRA_CA_CERTS makes the code under test trust it. */
async function makeCertificate() {
  const { makeCertificate: make } = require('../test/support/certificate.ts');
  const { certFile, keyFile } = await make(RUN);
  return { cert: certFile, key: keyFile };
}

/**
 * For the whole suite: dist/ compiled as `npm run build` does, unless it is current, beside the
 * services' start. The processes the tests start (the CLI, `hooksync api`, `hooksync worker`) run
 * bin/hooksync.js, which runs dist/ when it was built from the sources as they are, and else the
 * sources through tsx: a CLI command then costs 1.5 s of CPU instead of 0.5, and a worker bundles
 * its workflows at every start. A few hundred of them make this worth its half minute. A run of
 * chosen files leaves dist/ as it is (an edit makes it stale, and a build would cost more than it
 * saves); a failed build leaves the sources to run, as HOOKSYNC_FROM_SOURCE=1 does.
 */
function compileDist() {
  const { compiledIsCurrent } = require('./build-stamp');
  if (process.env.HOOKSYNC_FROM_SOURCE === '1' || compiledIsCurrent()) return undefined;
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'build.js')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    const stop = () => child.exitCode === null && child.signalCode === null && child.kill('SIGTERM');
    cleanups.push(stop);
    child.on('close', (code) => {
      if (code === 0) log(`dist/ compiled from the sources in ${((Date.now() - started) / 1000).toFixed(1)} s, for the processes the tests start`);
      else if (!interrupted) log(`could not compile dist/ (the processes the tests start run the sources): ${output.trim().split('\n').slice(-5).join(' | ')}`);
      resolve();
    });
  });
}

/** Bundled once here instead of once per test file's worker (several seconds each). */
async function bundleWorkflows() {
  const { bundleWorkflowCode } = require('@temporalio/worker');
  const { workflowsPath } = require('../src/worker/worker.ts');
  const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn: (m) => log(`bundler: ${m}`), error: (m) => log(`bundler: ${m}`) };
  const { code } = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: quiet });
  const file = path.join(RUN, 'workflow-bundle.js');
  fs.writeFileSync(file, code);
  return file;
}

function runTests(files, flags, env) {
  const concurrency = Number(process.env.HOOKSYNC_TEST_CONCURRENCY) || 2;
  // The runner's options as `node --test` takes them; any other flag goes to node, for every file's process.
  const options = { files: files.map((f) => path.join(ROOT, f)), concurrency, testNamePatterns: [] };
  const nodeFlags = [];
  for (const flag of flags) {
    const [name, value] = flag.split(/=(.*)/s);
    if (name === '--test-name-pattern' && value !== undefined) options.testNamePatterns.push(value);
    else if (name === '--test-only') options.only = true;
    else if (name === '--test-timeout' && value !== undefined) options.timeout = Number(value);
    else nodeFlags.push(flag);
  }
  if (options.testNamePatterns.length === 0) delete options.testNamePatterns;
  // The file processes are started with the runner's node flags (tsx's hook among them).
  const args = ['--import', 'tsx', ...nodeFlags, path.join(__dirname, 'test-files.mjs'), JSON.stringify(options)];
  return new Promise((resolve) => {
    // A process group of its own, so that at the end no test process can outlive the run.
    testRunner = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    const group = testRunner.pid;
    const summary = new SummaryCatcher();
    testRunner.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      summary.feed(chunk);
    });
    testRunner.on('close', (code) => {
      testRunner = undefined;
      testsDone = true;
      killGroup(group, 'SIGKILL');
      resolve({ code: code ?? 1, summary: summary.lines(), summaryLast: summary.isLast() });
    });
  });
}

const SUMMARY_LINE = /^\s*[ℹ#] (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) /;
const plain = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

/** Catches the runner's closing summary (ℹ tests … ℹ duration_ms …) as it streams by, to repeat it last. */
class SummaryCatcher {
  constructor() {
    this.partial = '';
    this.summary = [];
    this.lastLine = '';
  }
  feed(chunk) {
    const lines = (this.partial + chunk.toString()).split('\n');
    this.partial = lines.pop();
    for (const line of lines) {
      const text = plain(line);
      if (/^\s*[ℹ#] tests /.test(text)) this.summary = [];
      if (SUMMARY_LINE.test(text)) this.summary.push(line);
      if (text.trim() !== '') this.lastLine = text;
    }
  }
  lines() {
    return this.summary;
  }
  isLast() {
    return SUMMARY_LINE.test(plain(this.partial).trim() || this.lastLine);
  }
}

function killGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

async function cleanup() {
  for (const stop of cleanups.splice(0).reverse()) {
    try {
      await stop();
    } catch (err) {
      log(`cleanup: ${err.message}`);
    }
  }
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (interrupted) {
      log('interrupted twice: exiting without cleanup');
      process.exit(130);
    }
    interrupted = true;
    log(`${signal}: stopping the tests and the services…`);
    if (testRunner) killGroup(testRunner.pid, signal);
  });
}

main()
  .then(async (result) => {
    const { code, summary, summaryLast } = typeof result === 'number' ? { code: result, summary: [] } : result;
    await cleanup();
    // Kept after a failure, for Temporal's log; the next run removes it.
    if (code === 0) fs.rmSync(RUN, { recursive: true, force: true });
    // The runner's summary is the last thing printed, even after a long list of failures.
    if ((loggedAfterTests || !summaryLast) && summary.length > 0) process.stdout.write('\n' + summary.join('\n') + '\n');
    process.exit(interrupted && code === 0 ? 130 : code);
  })
  .catch(async (err) => {
    log(`could not run the tests: ${interrupted || err.usage ? err.message : err.stack || err.message}`);
    await cleanup();
    process.exit(interrupted ? 130 : 1);
  });
