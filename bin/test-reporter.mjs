// The test runner's reporter for `npm test`: one line per test file once it has finished (its
// tests, their time, and what they reported with t.diagnostic), then the runner's summary; a file
// with a failure is shown in full by Node's spec reporter instead (every test, each failure with
// its assertion and stack). What the test files' processes print (the logs of the API, worker and
// CLIs they run) goes to one log file per test file under HOOKSYNC_TEST_LOG_DIR; after a failure
// the reporter says where that file is and shows its last lines. HOOKSYNC_TEST_REPORT=spec shows
// every file in full, as a failing one.
import fs from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { spec } from 'node:test/reporters';

const LOG_DIR = process.env.HOOKSYNC_TEST_LOG_DIR || path.join(process.cwd(), '.hooksync', 'test', 'logs');
const TAIL_LINES = 20;
const ROOT = process.cwd();
const FULL = process.env.HOOKSYNC_TEST_REPORT === 'spec';
const COLOR = process.env.FORCE_COLOR !== undefined ? !['0', 'false'].includes(process.env.FORCE_COLOR) : process.stdout.isTTY === true;
const paint = (code, text) => (COLOR ? `\x1b[${code}m${text}\x1b[39m` : text);
const green = (t) => paint(32, t);
const red = (t) => paint(31, t);
const blue = (t) => paint(34, t);

class LogFile {
  constructor(file) {
    fs.mkdirSync(LOG_DIR, { recursive: true });
    this.path = path.join(LOG_DIR, path.basename(file).replace(/\.test\.[cm]?[jt]s$/, '') + '.log');
    this.fd = fs.openSync(this.path, 'a');
    this.tail = [];
  }
  write(message) {
    fs.writeSync(this.fd, message);
    for (const line of message.split('\n')) if (line.trim() !== '') this.tail.push(line);
    if (this.tail.length > TAIL_LINES * 4) this.tail.splice(0, this.tail.length - TAIL_LINES * 4);
  }
  /** The last lines, warnings and errors first choice (pino's levels 40 and up, or their pretty names). */
  lastLines() {
    const loud = this.tail.filter((l) => /"level":\s*(4|5|6)\d|\b(WARN|ERROR|FATAL|Error)\b/.test(l));
    const lines = (loud.length > 0 ? loud : this.tail).slice(-TAIL_LINES);
    return lines.map((l) => (l.length > 400 ? l.slice(0, 400) + '…' : l));
  }
}

/** What one test file reported, held until all of it has been reported. */
class FileReport {
  constructor(file) {
    this.file = file;
    this.events = [];
    this.tests = 0;
    this.failed = 0;
    this.skipped = 0;
    this.diagnostics = [];
    /** The runner's end of the file (its test:complete): its time and whether it passed. */
    this.end = undefined;
  }
  take(event) {
    this.events.push(event);
    const d = event.data;
    // The file's own test is reported only when it failed by itself (e.g. its process crashed).
    const isTest = d.details?.type !== 'suite' && !(d.nesting === 0 && d.name === this.file);
    if (event.type === 'test:pass' && isTest) {
      this.tests++;
      if (d.skip !== undefined || d.todo !== undefined) this.skipped++;
    }
    if (event.type === 'test:fail' && isTest) {
      this.tests++;
      this.failed++;
    }
    if (event.type === 'test:fail' && !isTest) this.failed ||= 1;
    if (event.type === 'test:diagnostic') this.diagnostics.push(d.message);
  }
  line() {
    const rel = path.relative(ROOT, this.file);
    const durationMs = this.end?.duration_ms;
    const time = durationMs === undefined ? '' : ` in ${formatSeconds(durationMs)}`;
    const tests = `${this.tests} test${this.tests === 1 ? '' : 's'}`;
    if (this.failed > 0) return `${red('✖')} ${rel}: ${this.failed} of ${tests} failed${time}\n`;
    const skipped = this.skipped > 0 ? `, ${this.skipped} skipped` : '';
    const notes = this.diagnostics.map((m) => `    ${blue('ℹ')} ${m}\n`).join('');
    return `${green('✔')} ${rel}: ${tests}${skipped}${time}\n${notes}`;
  }
}

const formatSeconds = (ms) => (ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`);

/** Node's spec output of `events` (one file's), with its closing list of failures. */
async function specOutput(events) {
  const reporter = new spec();
  const chunks = [];
  reporter.on('data', (c) => chunks.push(c));
  const ended = new Promise((resolve) => reporter.once('end', resolve));
  for (const e of events) reporter.write(e);
  reporter.end();
  await ended;
  return chunks.join('');
}

/**
 * The runner reports the files' results one file after the other, in the order it was given the
 * files (a file that finished early waits for those before it), but a file's end (the test:complete
 * of the test named by its path) as soon as the file has finished, before the last of its results.
 * So a file is printed once results of a later file come (the runner has reported it in full), or
 * at the end of the run.
 */
export class Reporter extends Transform {
  constructor() {
    super({ writableObjectMode: true });
    this.logs = new Map();
    this.files = new Map();
    /** The files in the runner's order of reporting. */
    this.order = [];
    this.failedFiles = [];
    this.summary = [];
  }
  position(file) {
    if (!this.order.includes(file)) this.order.push(file);
    return this.order.indexOf(file);
  }
  logOf(file) {
    let log = this.logs.get(file);
    if (!log) this.logs.set(file, (log = new LogFile(file)));
    return log;
  }
  reportOf(file) {
    let report = this.files.get(file);
    if (!report) this.files.set(file, (report = new FileReport(file)));
    return report;
  }
  _transform(event, _enc, done) {
    this.take(event).then(() => done(), done);
  }
  async take(event) {
    const d = event.data ?? {};
    const file = d.file;
    if ((event.type === 'test:stderr' || event.type === 'test:stdout') && file) return this.logOf(file).write(d.message);
    if (!file) {
      // The runner's own: its closing counts (tests, pass, fail, duration_ms…).
      if (event.type === 'test:diagnostic') this.summary.push(`${blue('ℹ')} ${d.message}\n`);
      return;
    }
    const ownTest = d.nesting === 0 && d.name === file;
    const at = this.position(file);
    if (ownTest && event.type === 'test:complete') {
      this.reportOf(file).end = d.details ?? {};
      return;
    }
    if (ownTest && (event.type === 'test:enqueue' || event.type === 'test:dequeue')) return;
    // Results of this file: every file before it has been reported in full.
    const done = [...this.files.values()].filter((r) => this.position(r.file) < at).sort((x, y) => this.position(x.file) - this.position(y.file));
    for (const report of done) await this.finish(report);
    if (event.type === 'test:complete' || event.type === 'test:enqueue' || event.type === 'test:dequeue') return;
    this.reportOf(file).take(event);
  }
  /** Prints a file: one line when it passed, the spec reporter's account and its logs when not. */
  async finish(report) {
    this.files.delete(report.file);
    if (report.end && !report.end.passed) report.failed ||= 1;
    if (!report.end) {
      report.failed ||= 1;
      this.push(`${red('✖')} ${path.relative(ROOT, report.file)} did not finish\n`);
    } else this.push(report.line());
    if (report.failed === 0 && !FULL) return;
    this.push(await specOutput(report.events));
    if (report.failed > 0) this.push(this.logsOf(report.file));
  }
  /** Where a failed file's processes logged, and their last lines; remembered for the closing list. */
  logsOf(file) {
    const log = this.logs.get(file);
    const rel = path.relative(ROOT, file);
    if (!log) {
      this.failedFiles.push(`${red('✖')} ${rel} failed; its processes logged nothing\n`);
      return `\n${rel}: its processes logged nothing\n\n`;
    }
    fs.closeSync(log.fd);
    this.logs.delete(file);
    const where = path.relative(ROOT, log.path);
    this.failedFiles.push(`${red('✖')} ${rel} failed; the logs of its processes: ${where}\n`);
    return `\n${rel}: the logs of its processes are in ${where}; their last lines:\n${log.lastLines().map((l) => `  ${l}`).join('\n')}\n\n`;
  }
  async _flush(done) {
    try {
      // The last file, and files that never ended (the run was interrupted, or a file's process died).
      const left = [...this.files.values()].sort((x, y) => this.position(x.file) - this.position(y.file));
      for (const report of left) await this.finish(report);
      // Last, so that a long run ends with what failed and where to look.
      if (this.failedFiles.length > 0) this.push('\n' + this.failedFiles.join(''));
      if (this.summary.length > 0) this.push('\n' + this.summary.join(''));
      done();
    } catch (err) {
      done(err);
    }
  }
}

export default new Reporter();
