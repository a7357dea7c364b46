/**
 * `npm run bench [-- --quick]`: hooksync's ingest, delivery, on-insert latency and fan-out to many
 * on-insert targets against plain baselines in the same run, and the peak memory of the API and the worker, on a stack of its own
 * that it stops at the end, on an error and on Ctrl-C. What it measures, and its options:
 * bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { findTemporalCli } from '../src/dev/temporal-server';
import { CpuMeter } from './cpu';
import { startLoadgen, type Bench } from './context';
import { deliveryPhase } from './delivery';
import { fanoutPhase } from './fanout';
import { ingestPhase } from './ingest';
import { steadyPhase } from './steady';
import { latencyPhase } from './latency';
import { startReceiver } from './receiver';
import { checkTargets, renderTable, type BenchResults, type MemoryFigure } from './report';
import { benchDatabase, benchTemporal, Resources, serviceDeps, startHooksync } from '../test/support/services';
import { rerunTrustingCertificate, trustsTestCertificate } from '../test/support/certificate';

const RESULTS_DIR = path.resolve(__dirname, '..', 'bench-results');
const t0 = performance.now();
const log = (msg: string) => process.stderr.write(`bench [${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s]: ${msg}\n`);

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    levels: { type: 'string' },
    seconds: { type: 'string' },
    rows: { type: 'string' },
    rates: { type: 'string' },
    'page-sizes': { type: 'string' },
    'fanout-targets': { type: 'string' },
    out: { type: 'string' },
    profile: { type: 'boolean', default: false },
  },
  allowPositionals: false,
});

const numbers = (s: string | undefined, fallback: number[]) => (s ? s.split(',').map((v) => Number(v.trim())) : fallback);

async function bench(): Promise<number> {
  const quick = args.quick!;
  const only = new Set((args.only ?? 'ingest,steady,delivery,latency,fanout').split(',').map((s) => s.trim()));
  const settings = {
    ingest: {
      levels: numbers(args.levels, [1, 16, 64]),
      seconds: Number(args.seconds ?? (quick ? 1.5 : 8)),
      warmupSeconds: quick ? 0.75 : 2,
      customers: 20_000,
      // Flat out: the top level's events per system (two segments of half).
      eventsAtTop: quick ? 6_000 : 30_000,
    },
    steady: { rates: numbers(args.rates, [100, 400, 1000]), seconds: quick ? 4 : 15, customers: 2_000 },
    delivery: { rows: Number(args.rows ?? (quick ? 20_000 : 100_000)), pageSizes: numbers(args['page-sizes'], [200, 1000]) },
    latency: { ratePerSecond: 400, seconds: quick ? 5 : 10, warmupSeconds: quick ? 0.5 : 1 },
    fanout: {
      targets: numbers(args['fanout-targets'], quick ? [1, 40] : [1, 10, 40, 100]),
      ratePerSecond: 50,
      seconds: quick ? 8 : 20,
      warmupSeconds: quick ? 0.5 : 1,
      timeoutSeconds: quick ? 30 : 60,
    },
  };
  const started = Date.now();
  const startedAt = new Date().toISOString();
  const loadAtStart = os.loadavg()[0]!.toFixed(1);
  const runId = startedAt.replace(/[:.]/g, '-');
  const logDir = path.join(RESULTS_DIR, 'logs', runId);
  fs.mkdirSync(logDir, { recursive: true });
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
      profileDir: args.profile ? path.join(logDir, 'profiles') : undefined,
    });
    const deps = serviceDeps(res, db.url, temporalAddress, taskQueue);
    const cpu = new CpuMeter(deps.pool);
    cpu.track('api', hs.api.pid);
    cpu.track('worker', hs.worker.pid);
    const loadgen = await startLoadgen({ res, cpu, logDir, databaseUrl: db.url });
    const b: Bench = { deps, res, databaseUrl: db.url, apiUrl: hs.apiUrl, metricsUrl: hs.metricsUrl, receiver, cpu, logDir, log, loadgen };

    const ingest = only.has('ingest') ? await ingestPhase(b, settings.ingest) : undefined;
    const steady = only.has('steady') ? await steadyPhase(b, settings.steady) : undefined;
    const delivery = only.has('delivery') ? await deliveryPhase(b, settings.delivery) : undefined;
    const latency = only.has('latency') ? await latencyPhase(b, settings.latency) : undefined;
    const fanout = only.has('fanout') ? await fanoutPhase(b, settings.fanout) : undefined;
    if (receiver.refused()) log(`the receiver refused ${receiver.refused()} requests (bad credentials or body)`);

    const memory: Record<string, MemoryFigure | undefined> = {};
    const ready: Record<string, number | undefined> = hs.readyPeakRss;
    const mb = (bytes: number) => bytes / 1024 / 1024;
    const children = [hs.api, hs.worker, loadgen.child, ...(ingest?.baselineChildren ?? []), steady?.baselineChild, delivery?.baselineChild, ...(fanout?.baselineChildren ?? [])];
    for (const c of children) {
      const m = c?.memory();
      if (!c || !m) continue;
      memory[c.name] = { peakRssMb: mb(m.peakRss), rssMb: mb(m.rss), ...(ready[c.name] ? { readyPeakRssMb: mb(ready[c.name]!) } : {}) };
    }

    // Stop the stack before printing, so the table ends the output.
    if (stopping) return res.close(log).then(() => 130);
    await res.close(log);
    const measured = { ingest: ingest?.levels, ingestWarmup: ingest?.warmup, steady: steady?.rates, delivery: delivery?.results, latency, fanout: fanout?.levels };
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
        // Other work on the machine skews throughput (CPU per event much less).
        loadAverage: `${loadAtStart} at the start, ${os.loadavg()[0]!.toFixed(1)} at the end (1-minute)`,
      },
      settings,
      ...measured,
      memory,
      targets: checkTargets(measured, settings.delivery.rows),
    };
    const out = args.out ? path.resolve(args.out) : path.join(RESULTS_DIR, 'latest.json');
    // And a copy per run, to compare runs later.
    for (const file of [out, path.join(RESULTS_DIR, 'runs', `${runId}-${results.mode}.json`)]) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
    }
    process.stdout.write(renderTable(results) + '\n');
    log(`results in ${path.relative(process.cwd(), out)}`);
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
