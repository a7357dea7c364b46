import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { temporalLogger } from '../../src/temporal/logger';

const ROOT = path.resolve(__dirname, '..', '..');

/** A pino logger at `level` whose lines land in the returned array. */
function captured(level: string): { log: pino.Logger; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as { level: number; msg: string });
      done();
    },
  });
  return { log: pino({ level }, sink), lines };
}

const webpackReport = 'asset workflow-bundle-1f2e.js 1.41 MiB [emitted] (name: main)\nwebpack 5.101.3 compiled successfully in 2107 ms';

test("the SDK's bundler report is not logged at info, and is at debug", () => {
  const info = captured('info');
  const sdk = temporalLogger(info.log);
  sdk.info('Workflow bundle created', { size: '1.41MB' });
  sdk.info(webpackReport);
  sdk.info('Worker state changed', { state: 'RUNNING' });
  assert.deepEqual(
    info.lines.map((l) => l.msg),
    ['Worker state changed'],
  );

  const debug = captured('debug');
  temporalLogger(debug.log).info(webpackReport);
  assert.equal(debug.lines.length, 1);
  assert.equal(debug.lines[0]!.level, 20);
  // A failed bundle stays an error.
  temporalLogger(info.log).error(webpackReport.replace('compiled successfully', 'compiled with 1 error'));
  assert.equal(info.lines.at(-1)!.level, 50);
});

test('logs are JSON lines until prettyLogs(), then lines a person reads', () => {
  const script = `
    require('tsx/cjs');
    const { logger, prettyLogs } = require('./src/log.ts');
    logger.info({ port: 8080 }, 'api listening');
    prettyLogs();
    logger.warn({ targetId: 'hst_1' }, 'delivery failed');
    logger.flush();
  `;
  const run = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', LOG_LEVEL: 'info' } });
  assert.equal(run.status, 0, run.stderr);
  const [json, ...pretty] = run.stderr.trimEnd().split('\n');
  assert.deepEqual(JSON.parse(json!), { level: 30, time: JSON.parse(json!).time, service: 'hooksync', port: 8080, msg: 'api listening' });
  assert.match(pretty[0]!, /^\[\d{2}:\d{2}:\d{2}\.\d{3}\] WARN: delivery failed$/);
  assert.match(pretty[1]!, /^\s+targetId: "hst_1"$/);
  assert.equal(pretty.length, 2, run.stderr);
});
