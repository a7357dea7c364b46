import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SEARCH_ATTRIBUTES } from '../contract/names';
import { buildIntoPlace, findGo, goInstall } from './go-build';
import { appendTail, fileTail, findOnPath, isExecutable, portInUseMessage, withParentDeathSignal } from './child-processes';
import { freePort, probePort } from '../ports';

/** The CLI version hooksync is tested with; the cache path carries it so an upgrade rebuilds. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';

export function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'hooksync');
}

const cachedCliPath = () => path.join(cacheDir(), `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'temporal');

/**
 * Finds a Temporal CLI: $TEMPORAL_CLI_PATH, `temporal` on PATH, the cached build, or else builds
 * the pinned version with Go (no release downloads needed, only the Go module proxy).
 */
export async function findTemporalCli(log: (msg: string) => void): Promise<string | undefined> {
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (isExecutable(fromEnv)) return fromEnv;
    log(`TEMPORAL_CLI_PATH=${fromEnv} is not an executable file; looking elsewhere`);
  }
  const onPath = findOnPath('temporal');
  if (onPath) return onPath;
  const cached = cachedCliPath();
  if (isExecutable(cached)) return cached;
  const go = findGo();
  if (!go) return undefined;
  return buildWithGo(go, cached, log);
}

async function buildWithGo(go: string, target: string, log: (msg: string) => void): Promise<string | undefined> {
  // Builds before this one made the folder first: an empty one is what an interrupted one left.
  try {
    fs.rmdirSync(path.dirname(target));
  } catch {
    // not there, or not empty
  }
  log(`Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with Go into ${path.dirname(target)} (the first build takes a few minutes)…`);
  const built = await buildIntoPlace(
    path.dirname(target),
    async (dir) => (await goInstall(go, [`${CLI_MODULE}@${TEMPORAL_CLI_VERSION}`], dir, 'the Temporal CLI', log)) && isExecutable(path.join(dir, 'temporal')),
    log,
  );
  return built && isExecutable(target) ? target : undefined;
}

export interface TemporalServer {
  /** host:port of the frontend, for TEMPORAL_ADDRESS. */
  address: string;
  uiUrl?: string;
  stop(): Promise<void>;
}

export interface TemporalDevServerOptions {
  /** Persist workflows in this SQLite file; undefined keeps them in memory. */
  dbFile?: string;
  /** Frontend gRPC port; default 7233, 0 picks a free one. */
  port?: number;
  /** UI port; default port + 1000 (a free one when port is 0), 0 picks a free one. */
  uiPort?: number;
  ui?: boolean;
  /** Where the server's own output goes; otherwise only its tail is kept, for errors. */
  logFile?: string;
  log: (msg: string) => void;
}

const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;

/** Runs `temporal server start-dev` with hooksync's search attributes; falls back to the SDK's download. */
export async function startTemporalDevServer(opts: TemporalDevServerOptions): Promise<TemporalServer> {
  const ip = '127.0.0.1';
  const ui = opts.ui ?? true;
  // The CLI first: a build takes minutes, and free ports should be picked just before use.
  const cli = await findTemporalCli(opts.log);
  const port = await choosePort(ip, opts.port ?? 7233, 'Temporal frontend');
  const uiPort = ui ? await choosePort(ip, opts.uiPort ?? (opts.port === 0 ? 0 : port + 1000), 'Temporal UI') : undefined;
  if (opts.dbFile) fs.mkdirSync(path.dirname(path.resolve(opts.dbFile)), { recursive: true });
  if (!cli) return startWithSdkDownload(opts, ip, port, uiPort);

  const args = ['server', 'start-dev', '--ip', ip, '--port', String(port)];
  args.push(...(uiPort === undefined ? ['--headless'] : ['--ui-port', String(uiPort)]));
  if (opts.dbFile) {
    // Write-ahead logging without a flush per transaction: the SQLite default (a rollback journal
    // flushed at every commit) made each wake-up and activity of a busy dev server wait on the
    // disk, and 40 on-insert targets took seconds to see new rows. A crash of the machine (not of
    // the process) may lose the last moments of workflow history; this is a development server.
    args.push('--db-filename', path.resolve(opts.dbFile), '--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal');
  }
  args.push('--log-level', 'warn');
  for (const name of Object.values(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=Keyword`);
  // Measured (DESIGN.md): eager activities roughly halve the Temporal overhead of a delivery.
  args.push('--dynamic-config-value', 'system.enableActivityEagerExecution=true');

  const tail: string[] = [];
  let logFd: number | undefined;
  if (opts.logFile) {
    fs.mkdirSync(path.dirname(path.resolve(opts.logFile)), { recursive: true });
    logFd = fs.openSync(opts.logFile, 'a');
  }
  // Not detached: a Ctrl-C in the terminal reaches the server too, and it shuts down cleanly.
  // And it dies with this process, even when this process is killed with SIGKILL.
  const [command, argv] = withParentDeathSignal('SIGTERM', cli, args);
  const child = spawn(command, argv, { stdio: ['ignore', logFd ?? 'pipe', logFd ?? 'pipe'] });
  if (logFd !== undefined) fs.closeSync(logFd);
  child.stdout?.on('data', (c: Buffer) => appendTail(tail, c));
  child.stderr?.on('data', (c: Buffer) => appendTail(tail, c));
  const exited = exitPromise(child);
  const killOnExit = () => child.kill('SIGTERM');
  process.on('exit', killOnExit);

  const address = `${ip}:${port}`;
  const outputTail = () => (opts.logFile ? fileTail(opts.logFile) : tail.join('')).trim();
  try {
    await waitUntilServing(address, exited, outputTail);
  } catch (err) {
    process.off('exit', killOnExit);
    await stopChild(child, exited);
    throw err;
  }
  return {
    address,
    uiUrl: uiPort === undefined ? undefined : `http://${ip}:${uiPort}`,
    async stop() {
      process.off('exit', killOnExit);
      await stopChild(child, exited);
    },
  };
}

async function choosePort(ip: string, wanted: number, what: string): Promise<number> {
  if (wanted === 0) return freePort(ip);
  const problem = await probePort(ip, wanted);
  if (problem === 'in-use') {
    throw new Error(portInUseMessage(ip, wanted, what, 'a Temporal dev server of an earlier run may still be running'));
  }
  if (problem) throw new Error(`cannot listen on ${ip}:${wanted} for the ${what}: ${problem}`);
  return wanted;
}

export function exitPromise(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }> {
  return new Promise((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

async function waitUntilServing(
  address: string,
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>,
  outputTail: () => string,
): Promise<void> {
  const { Connection } = await import('@temporalio/client');
  let gone: { code: number | null; signal: NodeJS.Signals | null; error?: Error } | undefined;
  void exited.then((e) => (gone = e));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = '';
  while (Date.now() < deadline) {
    if (gone) {
      const how = gone.error ? gone.error.message : `exit code ${gone.code ?? gone.signal}`;
      throw new Error(`the Temporal dev server stopped during start-up (${how}); its last output:\n${outputTail() || '(none)'}`);
    }
    try {
      const connection = await Connection.connect({ address, connectTimeout: '2 seconds' });
      try {
        // The namespace, not just the port: workers and clients need `default` to exist.
        await connection.workflowService.describeNamespace({ namespace: 'default' });
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      lastError = (err as Error).message;
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 250))]);
  }
  throw new Error(`the Temporal dev server did not answer on ${address} within ${READY_TIMEOUT_MS / 1000} s (${lastError}); its last output:\n${outputTail()}`);
}

export async function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** Without a CLI (no Go): the SDK downloads a dev server itself, which needs internet access. */
async function startWithSdkDownload(opts: TemporalDevServerOptions, ip: string, port: number, uiPort: number | undefined): Promise<TemporalServer> {
  opts.log('No Temporal CLI found and no Go to build one; letting the Temporal SDK download a dev server (needs internet access)…');
  const [{ TestWorkflowEnvironment }, { defineSearchAttributeKey, SearchAttributeType }] = await Promise.all([
    import('@temporalio/testing'),
    import('@temporalio/common'),
  ]);
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      ip,
      port,
      ui: uiPort !== undefined,
      uiPort,
      dbFilename: opts.dbFile ? path.resolve(opts.dbFile) : undefined,
      searchAttributes: Object.values(SEARCH_ATTRIBUTES).map((name) => defineSearchAttributeKey(name, SearchAttributeType.KEYWORD)),
      extraArgs: ['--dynamic-config-value', 'system.enableActivityEagerExecution=true'],
    },
  });
  return {
    address: env.address,
    uiUrl: uiPort === undefined ? undefined : `http://${ip}:${uiPort}`,
    stop: () => env.teardown(),
  };
}
