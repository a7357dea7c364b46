import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { prettyLogs } from '../../src/log';
import { devConnectionFile, devEncryptionKey, devKeyFile, loadConfig, readDevConnection, stateDir, writeDevConnection } from '../../src/config';
import { generateKey } from '../../src/secrets/keyring';
import type { Running } from '../../src/processes';
import { exitAfterLogs, fail, parseInteger } from '../context';
import { untilSignal } from './serve';

const say = (msg: string) => process.stderr.write(`hooksync dev: ${msg}\n`);
/** On one machine, receivers usually run on it too: targets may use loopback addresses (not the rest of the network). */
const DEV_ALLOWED_TARGET_HOSTS = 'localhost,127.0.0.0/8,::1';
const hidePassword = (url: string) => url.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@');

function alreadyRunning(): number | undefined {
  const pid = readDevConnection()?.pid;
  if (!pid || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

export function devCommand(): Command {
  return new Command('dev')
    .description('run everything on this machine: PostgreSQL (DATABASE_URL or embedded), the Temporal dev server and its UI, migrations, the worker and the API; state in .hooksync/, Ctrl-C stops it all')
    .option('--port <port>', 'API port', parseInteger('port'), Number(process.env.PORT ?? 8080))
    .option('--temporal-port <port>', 'Temporal frontend port (when TEMPORAL_ADDRESS is not set)', parseInteger('port'), 7233)
    .option('--ui-port <port>', 'Temporal Web UI port', parseInteger('port'), 8233)
    .option('--metrics-port <[host:]port>', 'where /metrics is served (HOOKSYNC_METRICS_PORT; on 127.0.0.1 unless a host is given)', process.env.HOOKSYNC_METRICS_PORT || '9464')
    .action(async (opts: { port: number; temporalPort: number; uiPort: number; metricsPort: string }) => {
      const parts: Running[] = [];
      // A person watches this terminal; piped into a file or a collector, the lines stay JSON.
      if (process.stdout.isTTY && process.stderr.isTTY) prettyLogs();
      try {
        // Loaded here, not at start-up, so that the other commands stay quick.
        const { migrate } = require('../../src/db/migrate') as typeof import('../../src/db/migrate');
        const { createPool } = require('../../src/db/pool') as typeof import('../../src/db/pool');
        const { startEmbeddedPostgres } = require('../../src/dev/embedded-postgres') as typeof import('../../src/dev/embedded-postgres');
        const { startTemporalDevServer } = require('../../src/dev/temporal-server') as typeof import('../../src/dev/temporal-server');
        const { startApi, startWorkerProcess } = require('../../src/processes') as typeof import('../../src/processes');
        const other = alreadyRunning();
        if (other) throw new Error(`hooksync dev is already running here (pid ${other}); stop it first`);
        fs.mkdirSync(stateDir, { recursive: true });
        say(`state in ${path.relative(process.cwd(), stateDir) || stateDir}`);

        let databaseUrl = process.env.DATABASE_URL;
        if (!databaseUrl) {
          say('starting embedded PostgreSQL…');
          const pg = await startEmbeddedPostgres({ dir: path.join(stateDir, 'postgres'), log: say });
          parts.push({ close: pg.stop });
          databaseUrl = pg.url;
        }

        let temporalAddress = process.env.TEMPORAL_ADDRESS;
        let uiUrl: string | undefined;
        if (!temporalAddress) {
          say('starting the Temporal dev server…');
          const temporal = await startTemporalDevServer({
            dbFile: path.join(stateDir, 'temporal.db'),
            port: opts.temporalPort,
            uiPort: opts.uiPort,
            logFile: path.join(stateDir, 'temporal.log'),
            log: say,
          });
          parts.push({ close: temporal.stop });
          temporalAddress = temporal.address;
          uiUrl = temporal.uiUrl;
        }

        // Secrets at rest are encrypted in development too: with the given key, or one kept in the state folder.
        const encryptionKey = process.env.HOOKSYNC_ENCRYPTION_KEY || devEncryptionKey(true, generateKey);
        if (!process.env.HOOKSYNC_ENCRYPTION_KEY) say(`secrets are encrypted with the key in ${path.relative(process.cwd(), devKeyFile) || devKeyFile}`);
        const allowHttp = process.env.HOOKSYNC_ALLOW_HTTP ?? 'loopback';
        const config = loadConfig({
          ...process.env,
          HOOKSYNC_ENCRYPTION_KEY: encryptionKey,
          DATABASE_URL: databaseUrl,
          TEMPORAL_ADDRESS: temporalAddress,
          PORT: String(opts.port),
          HOOKSYNC_METRICS_PORT: opts.metricsPort,
          HOOKSYNC_ALLOWED_TARGET_HOSTS: process.env.HOOKSYNC_ALLOWED_TARGET_HOSTS ?? DEV_ALLOWED_TARGET_HOSTS,
          // Receivers on this machine need no certificate; Basic Auth is still required.
          HOOKSYNC_ALLOW_HTTP: allowHttp,
        });
        const pool = createPool(config.DATABASE_URL, 1);
        await migrate(pool).finally(() => pool.end());

        parts.push(await startWorkerProcess(config));
        const api = await startApi(config);
        parts.push(api);
        const allowedTargetHosts = config.HOOKSYNC_ALLOWED_TARGET_HOSTS.source;
        writeDevConnection({ databaseUrl, temporalAddress, apiUrl: api.url, allowedTargetHosts, allowHttp, pid: process.pid });
        parts.push({ close: async () => fs.rmSync(devConnectionFile, { force: true }) });

        process.stdout.write(
          [
            '',
            'hooksync dev is running:',
            `  API            ${api.url}   (webhooks: POST ${api.url}/v1/webhooks/<integrationId>; /healthz /readyz; /v1/openapi.json)`,
            ...(api.metricsUrl ? [`  Metrics        ${api.metricsUrl}`] : []),
            `  Temporal       ${temporalAddress}`,
            ...(uiUrl ? [`  Temporal UI    ${uiUrl}   (each target is a workflow httpsync-<targetId>)`] : []),
            `  PostgreSQL     ${hidePassword(databaseUrl)}${process.env.DATABASE_URL ? '' : '   (embedded)'}`,
            `  Worker         task queue ${config.HOOKSYNC_TASK_QUEUE}`,
            `  Targets        may also use ${allowedTargetHosts || 'no non-public host'} (HOOKSYNC_ALLOWED_TARGET_HOSTS)` +
              (allowHttp === 'loopback' ? '; plain http to localhost (HOOKSYNC_ALLOW_HTTP=loopback)' : ''),
            '',
            'Next, in another terminal:  npx hooksync integrations create stripe_customer_v1',
            'Ctrl-C stops everything; running `npm run dev` again resumes where it was.',
            '',
          ].join('\n'),
        );
        // The grace period for the API and the worker, then time for Temporal and PostgreSQL to stop.
        const cutOff = await untilSignal(parts, { hardLimitMs: config.HOOKSYNC_SHUTDOWN_GRACE_SECONDS * 1000 + 40_000 });
        say(cutOff.length > 0 ? `stopped (cut short: ${cutOff.join('; ')})` : 'stopped');
        exitAfterLogs(0);
      } catch (err) {
        for (const p of parts.reverse()) await p.close().catch(() => {});
        fail(err, false);
      }
    });
}
