/**
 * `npm run bench [-- --quick]`: hooksync's ingest, delivery and on-insert latency against plain
 * baselines measured in the same run on the same machine, plus the peak memory of the API and the
 * worker. Starts its own stack as `hooksync dev` does (Temporal dev server in memory on free ports,
 * a fresh database, migrations), runs `hooksync api` and `hooksync worker` as separate processes,
 * prints one table and writes bench-results/latest.json. Everything it starts is stopped at the
 * end, on an error and on Ctrl-C.
 *
 * Options:
 *   --quick                under a minute: shorter levels, a 20,000-row backlog, 5 s of latency
 *   --only <phases>        comma-separated subset of ingest,delivery,latency
 *   --levels <n,n,…>       ingest senders (default 1,16,64)
 *   --seconds <s>          seconds per ingest level
 *   --rows <n>             delivery backlog
 *   --page-sizes <n,n>     delivery page sizes (default 200,1000)
 *   --shards <n>           HOOKSYNC_INGEST_SHARDS for the API
 *   --profile              run the API, the worker and the baselines with --cpu-prof
 *                          (profiles in bench-results/profiles/)
 *   --out <file>           JSON output (default bench-results/latest.json)
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { findTemporalCli } from '../src/dev/temporal-server';
import type { Child } from '../test/support/children';
import { CpuMeter } from './cpu';
import { deliveryPhase, type DeliveryResult } from './delivery';
import { ingestPhase, type IngestLevel } from './ingest';
import { latencyPhase, type LatencyResult } from './latency';
import { startReceiver } from './receiver';
import { checkTargets, renderTable, type BenchResults, type MemoryFigure } from './report';
import { benchDatabase, benchTemporal, Resources, serviceDeps, startHooksync } from '../test/support/services';
import { rerunTrustingCertificate, trustsTestCertificate } from '../test/support/certificate';

const ROOT = path.resolve(__dirname, '..');
const RESULTS_DIR = path.join(ROOT, 'bench-results');
const t0 = performance.now();
const log = (msg: string) => process.stderr.write(`bench [${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s]: ${msg}\n`);

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    levels: { type: 'string' },
    seconds: { type: 'string' },
    rows: { type: 'string' },
    'page-sizes': { type: 'string' },
    shards: { type: 'string' },
    profile: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
  allowPositionals: false,
});

const numbers = (s: string | undefined, fallback: number[]) => (s ? s.split(',').map((v) => Number(v.trim())) : fallback);

async function bench(): Promise<number> {
  const quick = args.quick!;
  const only = new Set((args.only ?? 'ingest,delivery,latency').split(',').map((s) => s.trim()));
  const settings = {
    levels: numbers(args.levels, [1, 16, 64]),
    ingestSeconds: Number(args.seconds ?? (quick ? 1.5 : 8)),
    warmupSeconds: quick ? 0.75 : 2,
    customers: quick ? 20_000 : 50_000,
    rows: Number(args.rows ?? (quick ? 20_000 : 100_000)),
    pageSizes: numbers(args['page-sizes'], [200, 1000]),
    latencyRate: 50,
    latencySeconds: quick ? 5 : 10,
    latencyWarmupSeconds: quick ? 0.5 : 1,
    shards: args.shards ? Number(args.shards) : undefined,
    profile: args.profile!,
  };
  const started = Date.now();
  const startedAt = new Date().toISOString();
  const loadAtStart = os.loadavg()[0]!.toFixed(1);
  const runId = startedAt.replace(/[:.]/g, '-');
  const logDir = path.join(RESULTS_DIR, 'logs', runId);
  fs.mkdirSync(logDir, { recursive: true });
  const profileDir = path.join(RESULTS_DIR, 'profiles', runId);
  const nodeFlags = settings.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  log(`${quick ? 'quick' : 'full'} run; logs in ${path.relative(process.cwd(), logDir)}`);

  const res = new Resources();
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping everything…`);
    void res.close(log).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const children: Child[] = [];
  try {
    const receiver = await startReceiver();
    res.add('receiver', () => receiver.close());

    log('starting the Temporal dev server and PostgreSQL…');
    const [temporalAddress, db] = await Promise.all([benchTemporal(res, logDir, log), benchDatabase(res, log)]);
    const cli = await findTemporalCli(log);
    let temporalCli = cli ? execFileSync(cli, ['--version'], { encoding: 'utf8' }).trim().replace(/^temporal version\s*/, '') : 'SDK download';
    // A CLI built from source (go install) calls itself 0.0.0-DEV; its cache path names the version.
    const pinned = cli && /temporal-cli-(v[\d.]+)/.exec(cli)?.[1];
    if (pinned) temporalCli = temporalCli.replace(/^0\.0\.0-DEV/, pinned);
    log(`database ${db.name} on ${db.server} (PostgreSQL ${db.version}); Temporal at ${temporalAddress}`);

    const taskQueue = `bench-${crypto.randomBytes(4).toString('hex')}`;
    log('starting `hooksync worker` and `hooksync api`…');
    const hs = await startHooksync(res, {
      databaseUrl: db.url,
      temporalAddress,
      taskQueue,
      logDir,
      nodeFlags,
      env: settings.shards ? { HOOKSYNC_INGEST_SHARDS: String(settings.shards) } : {},
    });
    children.push(hs.api, hs.worker);
    const deps = serviceDeps(res, db.url, temporalAddress, taskQueue);
    const cpu = new CpuMeter(deps.pool);
    cpu.track('api', hs.api.pid);
    cpu.track('worker', hs.worker.pid);

    let ingest: IngestLevel[] | undefined;
    let ingestWarmup: BenchResults['ingestWarmup'];
    let delivery: DeliveryResult[] | undefined;
    let latency: LatencyResult | undefined;
    if (only.has('ingest')) {
      const r = await ingestPhase(deps, res, {
        levels: settings.levels,
        seconds: settings.ingestSeconds,
        warmupSeconds: settings.warmupSeconds,
        customers: settings.customers,
        apiUrl: hs.apiUrl,
        databaseUrl: db.url,
        logDir,
        nodeFlags,
        cpu,
        log,
      });
      ingest = r.levels;
      ingestWarmup = r.warmup;
      children.push(r.baselineChild);
    }
    if (only.has('delivery')) {
      const r = await deliveryPhase(deps, res, { rows: settings.rows, pageSizes: settings.pageSizes, databaseUrl: db.url, logDir, nodeFlags, receiver, cpu, log });
      delivery = r.results;
      children.push(r.baselineChild);
    }
    if (only.has('latency')) {
      latency = await latencyPhase(deps, {
        apiUrl: hs.apiUrl,
        receiver,
        ratePerSecond: settings.latencyRate,
        seconds: settings.latencySeconds,
        warmupSeconds: settings.latencyWarmupSeconds,
        cpu,
        log,
      });
      const l = latency.legs;
      log(
        `latency: p50 ${latency.p50Ms.toFixed(1)} ms, p99 ${latency.p99Ms.toFixed(1)} ms, ${latency.missing} missing; ` +
          `send → upsert p50 ${l.toUpsertP50Ms.toFixed(1)} / p99 ${l.toUpsertP99Ms.toFixed(1)} ms, ` +
          `upsert → receiver p50 ${l.upsertToReceiverP50Ms.toFixed(1)} / p99 ${l.upsertToReceiverP99Ms.toFixed(1)} ms (${l.samples} rows)`,
      );
    }
    if (receiver.refused) log(`the receiver refused ${receiver.refused} requests (bad credentials or body)`);

    if (settings.profile) {
      fs.mkdirSync(profileDir, { recursive: true });
      fs.writeFileSync(path.join(profileDir, 'pids.json'), JSON.stringify(Object.fromEntries(children.map((c) => [c.pid, c.name])), null, 2));
      // The measured intervals, to cut the profiles to one of them (profile-summary --window).
      type Window = { fromUs: number; toUs: number };
      const windows: Record<string, Window[]> = {};
      for (const l of ingest ?? []) {
        windows[`ingest-hooksync-${l.senders}`] = l.hooksync.windows;
        windows[`ingest-baseline-${l.senders}`] = l.baseline.windows;
      }
      for (const d of delivery ?? []) {
        windows[`delivery-hooksync-${d.pageSize}`] = [d.hooksync.cpu.window];
        windows[`delivery-baseline-${d.pageSize}`] = [d.baseline.cpu.window];
      }
      if (latency) windows.latency = [latency.cpu.window];
      fs.writeFileSync(path.join(profileDir, 'windows.json'), JSON.stringify(windows, null, 2));
    }
    const memory: Record<string, MemoryFigure | undefined> = {};
    for (const c of children) {
      const m = c.memory();
      const ready = c === hs.api ? hs.readyPeakRss.api : c === hs.worker ? hs.readyPeakRss.worker : undefined;
      memory[c.name] = m && {
        peakRssMb: m.peakRss / 1024 / 1024,
        rssMb: m.rss / 1024 / 1024,
        ...(ready ? { readyPeakRssMb: ready / 1024 / 1024 } : {}),
      };
    }

    const cpus = os.cpus();
    const results: BenchResults = {
      mode: quick ? 'quick' : 'full',
      startedAt,
      durationSeconds: (Date.now() - started) / 1000,
      machine: {
        cores: cpus.length,
        cpuModel: cpus[0]?.model.replace(/\s+/g, ' ').trim() ?? '?',
        memoryGb: Math.round(os.totalmem() / 1024 ** 3),
        node: process.version,
        postgres: `${db.version} (${db.server})`,
        temporalCli,
        // Other work on the machine skews throughput (CPU per event much less): the 1/5/15-minute load at the end.
        loadAverage: `${loadAtStart} at the start, ${os.loadavg()[0]!.toFixed(1)} at the end (1-minute)`,
      },
      settings,
      ingest,
      ingestWarmup,
      delivery,
      latency,
      memory,
      targets: [],
    };
    results.targets = checkTargets(results);

    // Stop the stack before printing, so the table ends the output (and profiles get written).
    if (stopping) return res.close(log).then(() => 130);
    await res.close(log);
    results.durationSeconds = (Date.now() - started) / 1000;
    const out = args.out ? path.resolve(args.out) : path.join(RESULTS_DIR, 'latest.json');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
    // And a copy per run, to compare runs later.
    const copy = path.join(RESULTS_DIR, 'runs', `${runId}-${results.mode}.json`);
    fs.mkdirSync(path.dirname(copy), { recursive: true });
    fs.writeFileSync(copy, JSON.stringify(results, null, 2) + '\n');
    process.stdout.write(renderTable(results) + '\n');
    log(`results in ${path.relative(process.cwd(), out)}` + (settings.profile ? `; CPU profiles in ${path.relative(process.cwd(), profileDir)}` : ''));
    return 0;
  } catch (err) {
    if (stopping) return res.close(log).then(() => 130);
    log(`failed: ${(err as Error).stack ?? err}`);
    await res.close(log);
    return 1;
  }
}

// This process creates targets, whose verification POST must trust the receiver's certificate.
const main = trustsTestCertificate() ? bench : () => rerunTrustingCertificate('hooksync-bench-', log);
main().then(
  (code) => process.exit(code),
  (err) => {
    log(`failed: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
