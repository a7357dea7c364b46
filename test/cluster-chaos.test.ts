import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Connection } from '@temporalio/client';
import type { Child } from './support/children';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from '../src/dev/embedded-postgres';
import { startTemporalCluster, type TemporalCluster } from '../src/dev/temporal-cluster';
import { waitFor } from './support/harness';
import { assertVersionsInOrder, ROOT, syncPages } from './support/httpsync';
import { cliJson, ownerOfConnection, postgresAccess, spawnHooksync, startApiProcess, waitUntilPolling } from './support/cluster';
import { startReceiver, type InFlightSpan, type Receiver } from './support/receiver';
import { customerEvent, stripeSignature } from './support/stripe';

// The production topology on Temporal's own server (PostgreSQL-backed, its schema set up by its
// SQL tool), not the dev server: two `hooksync api` and two `hooksync worker` processes, signed
// Stripe events through both APIs, three targets delivering to HTTPS receivers with Basic Auth.
// Meanwhile a worker is SIGKILLed in the middle of a page, the Temporal server restarts, and
// hooksync's PostgreSQL is killed six times. Nothing may be lost, reordered or sent twice at once.
describe('a real Temporal cluster under faults', { timeout: 15 * 60_000 }, () => {
  const WORK = path.join(ROOT, '.hooksync', `cluster-chaos-${process.pid}`);
  const LOGS = path.join(WORK, 'logs');
  const SECRET = 'whsec_cluster_chaos_0123456789abcdef';
  const TARGETS = 3;
  const KEYS = 48;
  const SENDERS = 6;
  const PG_KILLS = 6;
  const log = (msg: string) => process.stderr.write(`[cluster-chaos] ${msg}\n`);

  let temporalPg: EmbeddedPostgresServer;
  let hooksyncPg: EmbeddedPostgresServer;
  let hooksyncPgPort: number;
  let cluster: TemporalCluster;
  let connection: Connection | undefined;
  const children: Child[] = [];
  const receivers: Receiver[] = [];
  let env: NodeJS.ProcessEnv;
  /** Set when the test is over, passed or not: the senders stop retrying. */
  let over = false;

  before(async () => {
    fs.rmSync(WORK, { recursive: true, force: true });
    fs.mkdirSync(LOGS, { recursive: true });
    // Two PostgreSQL clusters: Temporal's transactions in hooksync's would hold back its cursor
    // (pg_snapshot_xmin is cluster-wide), as docker-compose.yml keeps them apart too.
    temporalPg = await startEmbeddedPostgres({ dir: path.join(WORK, 'temporal-pg'), log });
    hooksyncPg = await startEmbeddedPostgres({ dir: path.join(WORK, 'hooksync-pg'), log });
    hooksyncPgPort = Number(new URL(hooksyncPg.url).port);
    const started = Date.now();
    cluster = await startTemporalCluster({ dir: path.join(WORK, 'temporal'), postgres: postgresAccess(temporalPg.url), log });
    log(`Temporal server ${cluster.address} serving in ${((Date.now() - started) / 1000).toFixed(1)} s (schema set up, namespace registered)`);
    connection = await Connection.connect({ address: cluster.address });
    env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HOOKSYNC_HOME: path.join(WORK, 'home'),
      NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS,
      DATABASE_URL: hooksyncPg.url,
      TEMPORAL_ADDRESS: cluster.address,
      TEMPORAL_NAMESPACE: 'default',
      HOOKSYNC_TASK_QUEUE: 'hooksync',
      HOOKSYNC_ALLOWED_TARGET_HOSTS: '127.0.0.1',
      LOG_LEVEL: 'info',
    };
    const migrate = spawnHooksync('migrate', 'migrate', env, LOGS);
    const done = await migrate.exited;
    assert.equal(done.code, 0, `hooksync migrate: ${migrate.tail()}`);
  });

  after(async () => {
    over = true;
    await Promise.allSettled(children.map((c) => c.stop(5_000)));
    await Promise.allSettled(receivers.map((r) => r.close()));
    await connection?.close().catch(() => {});
    await cluster?.stop().catch(() => {});
    await Promise.allSettled([hooksyncPg?.stop(), temporalPg?.stop()]);
    for (const pg of [hooksyncPg, temporalPg]) if (pg) fs.rmSync(pg.dataDir, { recursive: true, force: true });
    // Kept after a failure: the processes' logs and Temporal's are the explanation.
    if (process.exitCode === undefined || process.exitCode === 0) fs.rmSync(WORK, { recursive: true, force: true });
    else log(`logs kept in ${path.relative(ROOT, WORK)}`);
  });

  const pollers = async () => {
    const r = await connection!.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: 'hooksync' }, taskQueueType: 2 });
    return (r.pollers ?? []).map((p) => p.identity ?? '');
  };
  const workers: Child[] = [];
  const startWorker = async (name: string) => {
    const child = spawnHooksync(name, 'worker', env, LOGS);
    children.push(child);
    workers.push(child);
    const t = Date.now();
    await waitUntilPolling(child, pollers);
    log(`${name} (pid ${child.pid}) polling ${((Date.now() - t) / 1000).toFixed(1)} s after its start`);
    return child;
  };

  test('kill a worker mid-page, restart Temporal, kill PostgreSQL six times: every event applied, every row delivered, one POST at a time', async (t) => {
    const testStart = Date.now();
    const apis = await Promise.all([1, 2].map((i) => startApiProcess(`api-${i}`, env, LOGS)));
    children.push(...apis.map((a) => a.child));
    await startWorker('worker-1');
    await startWorker('worker-2');

    const integration = await cliJson(['integrations', 'create', 'stripe_customer_v1', '--webhook-secret', SECRET], env);
    for (let i = 0; i < TARGETS; i++) {
      const receiver = await startReceiver({ user: `target${i}`, password: `Pw-chaos-${i}-x7Qm2` });
      // Slow enough that a page is often in flight when a fault strikes.
      receiver.respondWith(() => ({ status: 200, delayMs: 120 }));
      receivers.push(receiver);
      // On-insert targets, and the last one on a 1 s period only: both ways of being woken meet the faults.
      const mode = i < TARGETS - 1 ? ['--period', '5', '--on-insert'] : ['--period', '1'];
      await cliJson(['httpsync', 'create', integration.id, '--url', receiver.url, ...mode, '--page-size', '10'], env);
    }

    // The senders: each owns some keys and sends their versions in turn, each event until it is
    // answered 2xx (as Stripe retries), alternating between the two APIs as a load balancer would.
    const T0 = Math.floor(Date.now() / 1000) - 100_000;
    const acked = new Map<string, number>();
    const statuses = new Map<string, number>();
    const count = (k: string) => statuses.set(k, (statuses.get(k) ?? 0) + 1);
    let sending = true;
    let sent = 0;
    const sendUntil2xx = async (key: string, version: number, turn: number) => {
      const event = customerEvent({
        type: version === 1 ? 'customer.created' : 'customer.updated',
        id: key,
        created: T0 + version,
        balance: version,
        email: `${key.toLowerCase()}@example.com`,
      });
      const payload = JSON.stringify(event);
      for (let attempt = 0; !over; attempt++) {
        const api = apis[(turn + attempt) % apis.length]!;
        try {
          const res = await fetch(`${api.url}/v1/webhooks/${integration.id}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignature(payload, SECRET) },
            body: payload,
            signal: AbortSignal.timeout(30_000),
          });
          await res.arrayBuffer();
          count(String(res.status));
          if (res.ok) {
            acked.set(key, version);
            sent++;
            return;
          }
        } catch {
          count('no answer');
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    const senders = Array.from({ length: SENDERS }, async (_, s) => {
      const keys = Array.from({ length: KEYS / SENDERS }, (_, i) => `cus_Chaos${s}x${i}`);
      const versions = new Map<string, number>();
      for (let turn = 0; sending && !over; turn++) {
        const key = keys[turn % keys.length]!;
        const v = (versions.get(key) ?? 0) + 1;
        versions.set(key, v);
        await sendUntil2xx(key, v, turn);
        await new Promise((r) => setTimeout(r, 40));
      }
    });

    const accepted = () => receivers.map((r) => syncPages(r).filter((p) => p.accepted).length);
    /** Seconds from `since` until every target has taken two more pages and twenty more events were acknowledged. */
    const progressOnEveryTarget = async (what: string, since = Date.now()) => {
      const before = accepted();
      const sentBefore = sent;
      // Up to four minutes: after a restart of Temporal's server its first workflow tasks can take
      // tens of seconds on this 2-core machine (the cluster's own PostgreSQL recovering too).
      await waitFor(async () => accepted().every((n, i) => n >= before[i]! + 2) && sent >= sentBefore + 20, {
        what: `deliveries and ingest to go on ${what}`,
        timeoutMs: 240_000,
        intervalMs: 100,
      }).catch((err: Error) => assert.fail(`${err.message} (pages accepted: ${before} → ${accepted()}; events acknowledged: ${sentBefore} → ${sent})`));
      return (Date.now() - since) / 1000;
    };
    const figures: string[] = [];
    const faultTimes: Record<string, string> = {};
    const mark = (what: string) => (faultTimes[what] = `+${((Date.now() - testStart) / 1000).toFixed(2)} s`);
    await progressOnEveryTarget('at the start');

    // 1. SIGKILL the worker that is sending a page, while its POST is in flight (the receivers
    // hold their answers meanwhile, so that it is surely killed before its answer).
    for (const r of receivers) r.respondWith(() => ({ status: 200, delayMs: 3_000 }));
    const heldFrom = Date.now();
    const pids = workers.map((w) => w.pid);
    const victim = await waitFor(
      async () => {
        for (const receiver of receivers) {
          const port = Number(new URL(receiver.endpoint).port);
          const inFlight = receiver.requests.find((r) => r.status === 0 && r.at > heldFrom && Date.now() - r.at < 1_000 && r.remotePort);
          const pid = inFlight && ownerOfConnection(inFlight.remotePort!, port, pids);
          if (inFlight && pid) return { page: inFlight, pid };
        }
        return undefined;
      },
      { what: 'a page in flight', timeoutMs: 60_000, intervalMs: 5 },
    );
    const killed = workers.find((w) => w.pid === victim.pid)!;
    mark('worker killed');
    const killedAt = Date.now();
    killed.proc.kill('SIGKILL');
    assert.equal((await killed.exited).signal, 'SIGKILL');
    workers.splice(workers.indexOf(killed), 1);
    for (const r of receivers) r.respondWith(() => ({ status: 200, delayMs: 120 }));
    // Its connection closed with the worker: from then on the held answer can no longer reach it.
    await waitFor(async () => victim.page.endedAt !== undefined, { what: 'the killed worker\'s POST to end' });
    assert.equal(victim.page.accepted, false, 'the worker died in the middle of a page: its POST was never answered to it');
    await startWorker('worker-3');
    figures.push(`worker ${victim.pid} killed mid-page: a replacement polling and deliveries on every target again ${(await progressOnEveryTarget('after the kill', killedAt)).toFixed(1)} s after the kill`);

    // 2. Restart the Temporal server (a clean stop, then a start on the same database).
    const restartedAt = Date.now();
    mark('Temporal stopping');
    await cluster.stop('SIGTERM');
    mark('Temporal stopped');
    // Paces the outage only: what is asserted holds for any length of it.
    await new Promise((r) => setTimeout(r, 2_000));
    await cluster.start();
    mark('Temporal serving');
    figures.push(
      `Temporal server down ${((Date.now() - restartedAt) / 1000).toFixed(1)} s: deliveries and ingest on again ${(await progressOnEveryTarget('after Temporal restarted', restartedAt)).toFixed(1)} s after it stopped`,
    );

    // 3. Kill hooksync's PostgreSQL, as `pg_ctl -m immediate` does (SIGQUIT to the postmaster: no
    // checkpoint, crash recovery at the next start), six times while events stream in and receivers
    // take 10-40 ms per page. Commits not yet on disk (the applies' asynchronous ones) are lost and
    // their inbox rows applied again, possibly under lower transaction ids: no cursor may pass them.
    for (const r of receivers) r.respondWith(() => ({ status: 200, delayMs: 10 + Math.floor(Math.random() * 31) }));
    const pgDownAt = Date.now();
    for (let kill = 1; kill <= PG_KILLS; kill++) {
      mark(`PostgreSQL killed (${kill})`);
      await killImmediately(hooksyncPg.dataDir);
      hooksyncPg = await startEmbeddedPostgres({ dir: path.join(WORK, 'hooksync-pg'), port: hooksyncPgPort, log });
      mark(`PostgreSQL up (${kill})`);
      // Let deliveries and applies get under way again before the next kill.
      await new Promise((r) => setTimeout(r, 1_000 + Math.floor(Math.random() * 2_000)));
    }
    figures.push(
      `hooksync's PostgreSQL killed ${PG_KILLS} times: deliveries and ingest on again ${(await progressOnEveryTarget('after PostgreSQL was killed', pgDownAt)).toFixed(1)} s after the first kill`,
    );

    sending = false;
    await Promise.all(senders);
    const pg = await import('pg');
    const db = new pg.default.Pool({ connectionString: hooksyncPg.url, max: 2 });
    try {
      // Every event answered 2xx is applied: each key's row holds the newest version acknowledged.
      const table = async () =>
        new Map((await db.query<{ stripe_id: string; balance: string }>(`SELECT stripe_id, balance FROM ${integration.table}`)).rows.map((r) => [r.stripe_id, Number(r.balance)]));
      let last = '';
      await waitFor(
        async () => {
          const rows = await table();
          const behind = [...acked].filter(([k, v]) => rows.get(k) !== v);
          last = `${behind.length} of ${acked.size} keys not at their acknowledged version, e.g. ${JSON.stringify(behind.slice(0, 3).map(([k, v]) => [k, v, rows.get(k)]))}`;
          return behind.length === 0 && rows.size === acked.size;
        },
        { what: 'every acknowledged event to be applied', timeoutMs: 120_000, intervalMs: 250 },
      ).catch((err: Error) => assert.fail(`${err.message}; ${last}`));

      // Every row delivered: each receiver's last accepted version of every row equals the table.
      const want = await table();
      for (const [i, receiver] of receivers.entries()) {
        await waitFor(
          async () => {
            const got = receiver.state('stripe_id');
            const missing = [...want].filter(([k, v]) => Number(got.get(k)?.balance) !== v);
            last = `${missing.length} rows not (yet) at their version, e.g. ${JSON.stringify(missing.slice(0, 3))}`;
            return missing.length === 0 && got.size === want.size;
          },
          { what: `receiver ${i + 1} to hold the table`, timeoutMs: 120_000, intervalMs: 250 },
        ).catch((err: Error) => assert.fail(`${err.message}; ${last}`));
      }
      // Nothing refused, nothing left behind.
      const { rows: left } = await db.query<{ inbox: string; dead: string }>(
        'SELECT (SELECT count(*) FROM ingest_inbox) AS inbox, (SELECT count(*) FROM ingest_dead_letters) AS dead',
      );
      assert.deepEqual(left[0], { inbox: '0', dead: '0' }, 'no event left in the inbox and none dead-lettered');
    } finally {
      await db.end();
    }

    // Never two POSTs to one target at once; per row, versions never go back.
    for (const [i, receiver] of receivers.entries()) {
      const overlaps = receiver.overlaps();
      const at = (ms?: number) => (ms === undefined ? 'never' : `+${((ms - testStart) / 1000).toFixed(3)} s`);
      const describe = (r: InFlightSpan) =>
        `{from ${at(r.startedAt)} to ${at(r.endedAt)}, port ${r.remotePort}, ` +
        (r.request ? `status ${r.request.status}, page ${r.request.pageId}, body at ${at(r.request.at)}}` : 'body never complete}');
      assert.equal(
        receiver.maxConcurrent,
        1,
        `receiver ${i + 1} had ${receiver.maxConcurrent} POSTs in flight at once: ${overlaps.map(([a, b]) => `${describe(a!)} and ${describe(b!)}`).join('; ')}; faults at ${JSON.stringify(faultTimes)}`,
      );
      assertVersionsInOrder(receiver);
      assert.ok(receiver.requests.every((r) => r.authorized), `receiver ${i + 1} got only authenticated POSTs`);
    }
    const pages = receivers.map((r) => syncPages(r).filter((p) => p.accepted));
    const resent = pages.map((ps) => ps.length - new Set(ps.map((p) => p.pageId)).size);
    figures.push(
      `${sent} events acknowledged (${[...statuses].map(([k, v]) => `${k}: ${v}`).join(', ')}); ${KEYS} customers; ` +
        `pages accepted per target ${pages.map((p) => p.length).join('/')}, of them sent again after a fault ${resent.join('/')}`,
    );
    for (const f of figures) t.diagnostic(f);
  });
});

/** `pg_ctl -m immediate`: SIGQUIT to the postmaster, then wait until it is gone. */
async function killImmediately(dataDir: string): Promise<void> {
  const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  process.kill(pid, 'SIGQUIT');
  await waitFor(
    async () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    },
    { what: `PostgreSQL (pid ${pid}) to exit`, timeoutMs: 30_000, intervalMs: 20 },
  );
}
