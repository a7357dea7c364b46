import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { withParentDeathSignal } from '../../src/dev/child-processes';

/**
 * The bench's child processes (the API, the worker, the baselines): each its own node process, so
 * its peak memory is its own; output into a log file; killed with the bench, even by SIGKILL
 * (setpriv --pdeathsig where available; it execs, so the pid is node's own).
 */
export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  logFile: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when a line of the output matches; rejects when the child exits first or after timeoutMs. */
  waitForOutput(re: RegExp, timeoutMs: number): Promise<string>;
  /** Peak and current resident memory (bytes), from /proc/<pid>/status. */
  memory(): { peakRss: number; rss: number } | undefined;
  /** SIGTERM, then SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
  /** The last lines of its output, to explain a failure. */
  tail(lines?: number): string;
}

const live = new Set<Child>();

/** Last resort when the bench exits without stopping its children (an exception, process.exit). */
process.on('exit', () => {
  for (const c of live) {
    try {
      c.proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

export interface SpawnOptions {
  name: string;
  /** Arguments after the node executable (flags, script, its arguments). */
  args: string[];
  env: NodeJS.ProcessEnv;
  logDir: string;
  /** Default: the repository root (so `--import tsx` and relative paths resolve). */
  cwd?: string;
  /** Adds an IPC channel (process.send in the child). */
  ipc?: boolean;
}

export function spawnNode(opts: SpawnOptions): Child {
  fs.mkdirSync(opts.logDir, { recursive: true });
  const logFile = path.join(opts.logDir, `${opts.name}.log`);
  const log = fs.createWriteStream(logFile);
  const [command, argv] = withParentDeathSignal('SIGTERM', process.execPath, opts.args);
  const stdio: StdioOptions = ['ignore', 'pipe', 'pipe', ...(opts.ipc ? (['ipc'] as const) : [])];
  const proc = spawn(command, argv, { env: opts.env, cwd: opts.cwd ?? path.resolve(__dirname, '..', '..'), stdio });
  const recent: string[] = [];
  let partial = '';
  const watchers = new Set<(line: string) => void>();
  const onData = (chunk: Buffer) => {
    log.write(chunk);
    const text = partial + chunk.toString('utf8');
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      recent.push(line);
      if (recent.length > 200) recent.shift();
      for (const w of watchers) w(line);
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('error', () => resolve({ code: null, signal: null }));
    proc.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let child: Child;
  void exited.then(() => {
    live.delete(child);
    log.end();
  });

  child = {
    name: opts.name,
    proc,
    pid: proc.pid ?? -1,
    logFile,
    exited,
    waitForOutput(re, timeoutMs) {
      const seen = recent.find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const done = () => {
          watchers.delete(watch);
          clearTimeout(timer);
        };
        const watch = (line: string) => {
          if (re.test(line)) {
            done();
            resolve(line);
          }
        };
        watchers.add(watch);
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${opts.name} did not print ${re} within ${timeoutMs / 1000} s; its output ends with:\n${child.tail()}`));
        }, timeoutMs);
        void exited.then((e) => {
          if (!watchers.has(watch)) return;
          done();
          reject(new Error(`${opts.name} exited (${e.code ?? e.signal}) before printing ${re}; its output ends with:\n${child.tail()}`));
        });
      });
    },
    memory() {
      try {
        const status = fs.readFileSync(`/proc/${proc.pid}/status`, 'utf8');
        const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
        return { peakRss: kb('VmHWM'), rss: kb('VmRSS') };
      } catch {
        return undefined;
      }
    },
    async stop(graceMs = 10_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    tail(lines = 25) {
      return [...recent, partial].filter(Boolean).slice(-lines).join('\n');
    },
  };
  live.add(child);
  return child;
}

/** Peak RSS of a process from /proc, for processes we did not spawn through spawnNode. */
export function peakRssOf(pid: number): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmHWM:\s+(\d+) kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The next IPC message of `child` that `pick` makes something of; rejects when it exits first or after timeoutMs. */
export function nextMessage<T>(child: Child, pick: (m: any) => T | undefined, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`${child.name}: no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    const onMessage = (m: unknown) => {
      const v = pick(m);
      if (v !== undefined) done(undefined, v);
    };
    const onExit = () => done(new Error(`${child.name} exited; its output ends with:\n${child.tail()}`));
    const done = (err?: Error, v?: T) => {
      clearTimeout(timer);
      child.proc.off('message', onMessage);
      child.proc.off('exit', onExit);
      if (err) reject(err);
      else resolve(v as T);
    };
    child.proc.on('message', onMessage);
    child.proc.once('exit', onExit);
  });
}
