import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildIntoPlace, findGo, goInstall } from './go-build';
import { fileTail, isExecutable, withParentDeathSignal } from './child-processes';
import { freePort, probePort } from '../ports';
import { cacheDir, exitPromise, findTemporalCli, stopChild } from './temporal-server';

/**
 * Temporal's own server (not the dev server) on PostgreSQL, as production runs it: the schema set
 * up by its SQL tool, the services started from the server module's PostgreSQL configuration. Used
 * by the tests that exercise hooksync against a real cluster; `docker-compose.yml` runs the same
 * version from Temporal's images.
 */

export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
const SERVER_MODULE = 'go.temporal.io/server';
const SQL_PLUGIN = 'postgres12';
/** What is kept of the server module beside the binaries: its configuration and the schema. */
const MODULE_FILES = ['config/development-postgres12.yaml', 'config/dynamicconfig/development-sql.yaml', 'schema/postgresql/v12'];

const run = promisify(execFile);

export interface TemporalServerTools {
  /** The `temporal-server` binary. */
  server: string;
  /** `temporal-sql-tool`. */
  sqlTool: string;
  /** Holds config/ and schema/ as in the server module. */
  home: string;
}

const usable = (home: string): TemporalServerTools | undefined => {
  const tools = { server: path.join(home, 'temporal-server'), sqlTool: path.join(home, 'temporal-sql-tool'), home };
  const complete = isExecutable(tools.server) && isExecutable(tools.sqlTool) && MODULE_FILES.every((f) => fs.existsSync(path.join(home, f)));
  return complete ? tools : undefined;
};

/**
 * $TEMPORAL_SERVER_DIR (laid out like the cache), the cached build, or else a Go build of the
 * pinned version (`go install` of the server and of its SQL tool; the module's configuration and
 * schema are copied from Go's module cache beside them).
 */
export async function findTemporalServer(log: (msg: string) => void): Promise<TemporalServerTools | undefined> {
  const fromEnv = process.env.TEMPORAL_SERVER_DIR;
  if (fromEnv) {
    const tools = usable(fromEnv);
    if (tools) return tools;
    log(`TEMPORAL_SERVER_DIR=${fromEnv} lacks temporal-server, temporal-sql-tool or ${MODULE_FILES.join(', ')}; looking elsewhere`);
  }
  const cached = path.join(cacheDir(), `temporal-server-${TEMPORAL_SERVER_VERSION}`);
  const found = usable(cached);
  if (found) return found;
  const go = findGo();
  if (!go) return undefined;
  log(`Building the Temporal server ${TEMPORAL_SERVER_VERSION} and its SQL tool with Go into ${cached} (the first build takes a few minutes)…`);
  const built = await buildIntoPlace(cached, async (dir) => {
    const gobin = path.join(dir, 'bin');
    const packages = [`${SERVER_MODULE}/cmd/server@${TEMPORAL_SERVER_VERSION}`, `${SERVER_MODULE}/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`];
    if (!(await goInstall(go, packages, gobin, `the Temporal server ${TEMPORAL_SERVER_VERSION}`, log))) return false;
    fs.renameSync(path.join(gobin, 'server'), path.join(dir, 'temporal-server'));
    fs.renameSync(path.join(gobin, 'sql'), path.join(dir, 'temporal-sql-tool'));
    fs.rmSync(gobin, { recursive: true, force: true });
    const modCache = (await run(go, ['env', 'GOMODCACHE'])).stdout.trim();
    const moduleDir = path.join(modCache, `${SERVER_MODULE}@${TEMPORAL_SERVER_VERSION}`);
    for (const f of MODULE_FILES) {
      fs.cpSync(path.join(moduleDir, f), path.join(dir, f), { recursive: true });
    }
    // Go's module cache is read-only; the copy must stay removable.
    await run('chmod', ['-R', 'u+w', dir]);
    return true;
  }, log);
  return built ? usable(cached) : undefined;
}

export interface PostgresAccess {
  host: string;
  port: number;
  user: string;
  password: string;
}

/** mTLS on the frontend: the server's certificate and key, and the CA its clients' certificates come from. */
export interface ClusterTls {
  certFile: string;
  keyFile: string;
  caFile: string;
  /** The name in the server's certificate (default localhost). */
  serverName?: string;
}

export interface TemporalClusterOptions {
  /** Its configuration (kept, so a restart keeps the ports) and its log. */
  dir: string;
  postgres: PostgresAccess;
  /** Default `temporal` and `temporal_visibility`. */
  databases?: { main: string; visibility: string };
  /** Frontend gRPC port; default a free one. */
  port?: number;
  tls?: ClusterTls;
  log: (msg: string) => void;
}

export interface TemporalCluster {
  /** host:port of the frontend, for TEMPORAL_ADDRESS. */
  address: string;
  logFile: string;
  /** Stops the server: SIGTERM (a clean stop), or SIGKILL (a crash). */
  stop(how?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts it again on the same configuration (after stop). */
  start(): Promise<void>;
}

const READY_TIMEOUT_MS = 120_000;

/** Sets up the schema (idempotent), writes the configuration, starts the server and registers `default`. */
export async function startTemporalCluster(opts: TemporalClusterOptions): Promise<TemporalCluster> {
  const [tools, cli] = await Promise.all([findTemporalServer(opts.log), findTemporalCli(opts.log)]);
  if (!tools) throw new Error(`no Temporal server ${TEMPORAL_SERVER_VERSION}: set TEMPORAL_SERVER_DIR, or install Go to build it`);
  if (!cli) throw new Error('no Temporal CLI: set TEMPORAL_CLI_PATH, or install Go to build it');
  const databases = opts.databases ?? { main: 'temporal', visibility: 'temporal_visibility' };
  fs.mkdirSync(opts.dir, { recursive: true });
  await setUpSchema(tools, opts.postgres, databases);
  const address = await writeConfig(tools, opts, databases);
  const logFile = path.join(opts.dir, 'temporal.log');
  const cliTls = opts.tls
    ? ['--tls-cert-path', opts.tls.certFile, '--tls-key-path', opts.tls.keyFile, '--tls-ca-path', opts.tls.caFile, '--tls-server-name', opts.tls.serverName ?? 'localhost']
    : [];
  const temporalCli = (args: string[]) => run(cli, [...args, '--address', address, ...cliTls], { timeout: 15_000 });

  let child: ChildProcess | undefined;
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }> | undefined;
  const killOnExit = () => child?.kill('SIGKILL');
  process.on('exit', killOnExit);

  const start = async () => {
    const logFd = fs.openSync(logFile, 'a');
    const [command, argv] = withParentDeathSignal('SIGKILL', tools.server, [
      '--root', opts.dir, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start',
    ]);
    child = spawn(command, argv, { stdio: ['ignore', logFd, logFd] });
    fs.closeSync(logFd);
    exited = exitPromise(child);
    let gone: string | undefined;
    void exited.then((e) => (gone = e.error?.message ?? `exit code ${e.code ?? e.signal}`));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last = '';
    for (;;) {
      if (gone) throw new Error(`the Temporal server stopped during start-up (${gone}); ${logFile} ends with:\n${fileTail(logFile, 20)}`);
      try {
        // As operators check it: the CLI's health check, then the namespace hooksync uses.
        const health = await temporalCli(['operator', 'cluster', 'health']);
        if (!/SERVING/.test(health.stdout)) throw new Error(health.stdout.trim());
        await temporalCli(['operator', 'namespace', 'describe', '-n', 'default']).catch(() =>
          temporalCli(['operator', 'namespace', 'create', '-n', 'default', '--retention', '24h']),
        );
        return;
      } catch (err) {
        last = String((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n')[0]!;
      }
      if (Date.now() > deadline) throw new Error(`the Temporal server did not serve within ${READY_TIMEOUT_MS / 1000} s (${last}); see ${logFile}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  };
  const stop = async (how: 'SIGTERM' | 'SIGKILL' = 'SIGTERM') => {
    if (!child || !exited) return;
    if (how === 'SIGKILL') child.kill('SIGKILL');
    await stopChild(child, exited);
    child = undefined;
  };
  try {
    await start();
  } catch (err) {
    await stop('SIGKILL');
    process.off('exit', killOnExit);
    throw err;
  }
  return {
    address,
    logFile,
    start,
    async stop(how) {
      await stop(how);
    },
  };
}

/** Temporal's documented way: create each database, set up version 0.0, update to the newest. */
async function setUpSchema(tools: TemporalServerTools, pg: PostgresAccess, databases: { main: string; visibility: string }): Promise<void> {
  const env = {
    ...process.env,
    SQL_PLUGIN,
    SQL_HOST: pg.host,
    SQL_PORT: String(pg.port),
    SQL_USER: pg.user,
    SQL_PASSWORD: pg.password,
  };
  for (const [db, schema] of [[databases.main, 'temporal'], [databases.visibility, 'visibility']] as const) {
    for (const args of [
      ['create-database'],
      ['setup-schema', '-v', '0.0'],
      ['update-schema', '-d', path.join(tools.home, 'schema', 'postgresql', 'v12', schema, 'versioned')],
    ]) {
      try {
        await run(tools.sqlTool, ['--db', db, ...args], { env, timeout: 120_000 });
      } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new Error(`temporal-sql-tool --db ${db} ${args[0]} failed: ${(e.stderr || e.message).trim().split('\n').slice(-5).join('\n')}`);
      }
    }
  }
}

/**
 * The module's development-postgres12.yaml with our database, user and password, and free ports
 * for every service (chosen once: a restart keeps them, as a host keeps its ports).
 */
async function writeConfig(tools: TemporalServerTools, opts: TemporalClusterOptions, databases: { main: string; visibility: string }): Promise<string> {
  const configDir = path.join(opts.dir, 'config');
  const file = path.join(configDir, 'development.yaml');
  const YAML = await import('yaml');
  if (!fs.existsSync(file)) {
    const config = YAML.parse(fs.readFileSync(path.join(tools.home, 'config', 'development-postgres12.yaml'), 'utf8'));
    for (const [store, db] of [['postgres-default', databases.main], ['postgres-visibility', databases.visibility]] as const) {
      const sql = config.persistence.datastores[store].sql;
      Object.assign(sql, { databaseName: db, connectAddr: `${opts.postgres.host}:${opts.postgres.port}`, user: opts.postgres.user, password: opts.postgres.password });
    }
    const port = async () => freePort('127.0.0.1');
    for (const service of ['frontend', 'history', 'matching', 'worker'] as const) {
      const rpc = config.services[service].rpc;
      rpc.grpcPort = service === 'frontend' && opts.port ? opts.port : await port();
      rpc.membershipPort = await smallPort();
      if (rpc.httpPort) rpc.httpPort = await port();
    }
    config.global.pprof.port = await port();
    config.global.metrics.prometheus.listenAddress = `127.0.0.1:${await port()}`;
    config.log = { stdout: true, level: 'warn' };
    const frontend = `127.0.0.1:${config.services.frontend.rpc.grpcPort}`;
    config.clusterMetadata.clusterInformation.active.rpcAddress = frontend;
    // Archival to the local file system is the sample's; nothing here archives.
    config.archival = { history: { state: 'disabled' }, visibility: { state: 'disabled' } };
    delete config.namespaceDefaults;
    if (opts.tls) {
      const serverName = opts.tls.serverName ?? 'localhost';
      config.global.tls = {
        frontend: {
          server: { certFile: opts.tls.certFile, keyFile: opts.tls.keyFile, requireClientAuth: true, clientCaFiles: [opts.tls.caFile] },
          client: { serverName, rootCaFiles: [opts.tls.caFile] },
        },
        // The server's own system workers reach the frontend like any client: with a certificate.
        systemWorker: { certFile: opts.tls.certFile, keyFile: opts.tls.keyFile, client: { serverName, rootCaFiles: [opts.tls.caFile] } },
      };
    }
    // The server reads this path relative to its working directory, not to --root.
    const dynamicConfig = path.join(configDir, 'dynamicconfig', 'development-sql.yaml');
    fs.mkdirSync(path.dirname(dynamicConfig), { recursive: true });
    fs.copyFileSync(path.join(tools.home, 'config', 'dynamicconfig', 'development-sql.yaml'), dynamicConfig);
    config.dynamicConfigClient.filepath = dynamicConfig;
    fs.writeFileSync(file, YAML.stringify(config), { mode: 0o600 });
  }
  const config = YAML.parse(fs.readFileSync(file, 'utf8'));
  return `127.0.0.1:${config.services.frontend.rpc.grpcPort}`;
}

/** Temporal stores membership ports as smallint: a free one below 32768 (the kernel's own picks lie above). */
async function smallPort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const candidate = 20_000 + Math.floor(Math.random() * 12_000);
    if ((await probePort('127.0.0.1', candidate)) === undefined) return candidate;
  }
  throw new Error('no free port between 20000 and 32000 for Temporal\'s membership');
}
