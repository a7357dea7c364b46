// The test runner's reporter for `npm test`: Node's spec reporter for the results, while what the
// test files' processes print (the logs of the API, worker and CLIs they run) goes to one log file
// per test file under HOOKSYNC_TEST_LOG_DIR. After a failure it says where that file is and shows
// its last lines, so that the results stay readable and a failure still comes with its logs.
import fs from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { spec } from 'node:test/reporters';

const LOG_DIR = process.env.HOOKSYNC_TEST_LOG_DIR || path.join(process.cwd(), '.hooksync', 'test', 'logs');
const TAIL_LINES = 20;
const ROOT = process.cwd();

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

class Reporter extends Transform {
  constructor() {
    super({ writableObjectMode: true });
    this.spec = new spec();
    this.spec.on('data', (chunk) => this.push(chunk));
    this.logs = new Map();
    this.failed = new Set();
  }
  logOf(file) {
    let log = this.logs.get(file);
    if (!log) this.logs.set(file, (log = new LogFile(file)));
    return log;
  }
  _transform(event, _enc, done) {
    const file = event.data?.file;
    if ((event.type === 'test:stderr' || event.type === 'test:stdout') && file) {
      this.logOf(file).write(event.data.message);
      return done();
    }
    if (event.type === 'test:fail' && file) this.failed.add(file);
    this.spec.write(event, done);
  }
  _flush(done) {
    this.spec.once('end', () => {
      for (const file of this.failed) {
        const log = this.logs.get(file);
        const rel = path.relative(ROOT, file);
        if (!log) {
          this.push(`\n${rel}: its processes logged nothing\n`);
          continue;
        }
        fs.closeSync(log.fd);
        this.push(`\n${rel}: the logs of its processes are in ${path.relative(ROOT, log.path)}; their last lines:\n${log.lastLines().map((l) => `  ${l}`).join('\n')}\n`);
      }
      done();
    });
    this.spec.end();
  }
}

export default new Reporter();
