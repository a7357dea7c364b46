import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

const REPORTER = path.resolve(__dirname, '..', '..', 'bin', 'test-reporter.mjs');

// The passing file ends after the failing one (run beside it): the runner then reports the failing
// file's end before any result of the passing one, and the passing file's results first.
const PASSING = `
import fs from 'node:fs';
import { describe, test } from 'node:test';
describe('a suite', () => {
  test('the first passing test', () => { console.error('a log line of a passing file'); });
  test('the second passing test', (t) => { t.diagnostic('42 pages in 3 s'); });
});
test('a third passing test, done after the failing file', async () => {
  while (!fs.existsSync('failing.done')) await new Promise((r) => setTimeout(r, 10));
});
`;
const FAILING = `
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
test('a passing test beside the failure', () => {});
test('the failing test', () => {
  console.log('{"level":50,"msg":"the worker could not reach the receiver"}');
  console.log('{"level":30,"msg":"the worker said goodbye"}');
  assert.equal(1 + 1, 3, 'the sum is off');
});
test('the last test', () => fs.writeFileSync('failing.done', ''));
`;

/** The reporter's output for a run of the runner (`node --test`) over two small files side by side, in a folder of their own. */
describe('the test reporter (bin/test-reporter.mjs)', () => {
  let dir: string;
  let output: string;
  let code: number | null;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hooksync-reporter-'));
    fs.writeFileSync(path.join(dir, 'passing.test.mjs'), PASSING);
    fs.writeFileSync(path.join(dir, 'failing.test.mjs'), FAILING);
    // Not a child of this runner: a test process's NODE_TEST_CONTEXT would make the nested runner report to it.
    const { NODE_TEST_CONTEXT: _context, ...env } = process.env;
    const run = spawnSync(
      process.execPath,
      ['--test', '--test-concurrency=2', `--test-reporter=${REPORTER}`, '--test-reporter-destination=stdout', 'passing.test.mjs', 'failing.test.mjs'],
      { cwd: dir, env: { ...env, FORCE_COLOR: '0', HOOKSYNC_TEST_LOG_DIR: path.join(dir, 'logs'), HOOKSYNC_TEST_REPORT: '' }, encoding: 'utf8', timeout: 60_000 },
    );
    output = run.stdout;
    code = run.status;
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a passing file is one line (its tests and time), with what its tests reported', () => {
    assert.equal(code, 1, output);
    const lines = output.split('\n');
    const at = lines.findIndex((l) => l.startsWith('✔ passing.test.mjs'));
    assert.match(lines[at] ?? '', /^✔ passing\.test\.mjs: 3 tests in \d+\.\d s$/, output);
    assert.equal(lines[at + 1], '    ℹ 42 pages in 3 s');
    assert.doesNotMatch(output, /first passing test|a suite/, 'no line per test or suite of a passing file');
    assert.doesNotMatch(output, /a log line of a passing file/, 'its processes\' output went to its log file');
    assert.match(fs.readFileSync(path.join(dir, 'logs', 'passing.log'), 'utf8'), /a log line of a passing file/);
  });

  test('a failing file is shown in full: each test, the assertion, the stack, where its logs are and their last lines that matter', () => {
    assert.match(output, /^✖ failing\.test\.mjs: 1 of 3 tests failed in \d+\.\d s$/m);
    assert.match(output, /✔ a passing test beside the failure/);
    assert.match(output, /✖ the failing test/);
    assert.match(output, /the sum is off/);
    assert.match(output, /failing\.test\.mjs:\d+:\d+/, 'a stack line in the test file');
    assert.match(output, /failing\.test\.mjs: the logs of its processes are in logs\/failing\.log; their last lines:\n {2}\{"level":50,"msg":"the worker could not reach the receiver"\}\n/);
    assert.doesNotMatch(output, /the worker said goodbye/, 'warnings and errors first');
  });

  test('the run ends with the failed files and the runner\'s counts', () => {
    const tail = output.trimEnd().split('\n').slice(-10);
    assert.deepEqual(tail.slice(0, 2), ['✖ failing.test.mjs failed; the logs of its processes: logs/failing.log', '']);
    assert.deepEqual(tail.slice(2, -1), ['ℹ tests 6', 'ℹ suites 1', 'ℹ pass 5', 'ℹ fail 1', 'ℹ cancelled 0', 'ℹ skipped 0', 'ℹ todo 0']);
    assert.match(tail.at(-1)!, /^ℹ duration_ms [\d.]+$/);
  });
});
