import fs from 'node:fs';
import type pg from 'pg';

/**
 * Where the CPU goes during a measurement: user+system time of each process of the stack (from
 * /proc/<pid>/stat), of the PostgreSQL backends serving each of them (found by application_name
 * in pg_stat_activity; each bench process connects with its own), of the Temporal dev server, and
 * how busy the whole machine was (/proc/stat, which includes whatever else runs on it).
 * Unlike throughput, CPU per event hardly depends on what else the machine is doing.
 */

const TICK_MS = 10; // USER_HZ is 100 on Linux

function readStat(pid: number): { comm: string; ppid: number; cpuMs: number } | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = s.lastIndexOf(')');
    const comm = s.slice(s.indexOf('(') + 1, close);
    const f = s.slice(close + 2).split(' ');
    // After "(comm) ": state, ppid, …; utime and stime are fields 14 and 15, i.e. 11 and 12 here.
    return { comm, ppid: Number(f[1]), cpuMs: (Number(f[11]) + Number(f[12])) * TICK_MS };
  } catch {
    return undefined;
  }
}

function machine(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = line.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = line[3]! + (line[4] ?? 0);
  return { busy: (total - idle) * TICK_MS, total: total * TICK_MS };
}

/** The Temporal dev server is a child of this process (setpriv execs into it). */
function temporalPids(): number[] {
  const pids: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const s = readStat(Number(d));
    if (s && s.ppid === process.pid && s.comm === 'temporal') pids.push(Number(d));
  }
  return pids;
}

export interface CpuSnapshot {
  perProcess: Record<string, number>;
  machine: { busy: number; total: number };
}

export interface CpuUsage {
  /** CPU ms used by each process (group) over the interval; `pg:<name>` are the backends serving <name>. */
  ms: Record<string, number>;
  /** Share of the machine's capacity (all cores) in use, 0..1, by anything. */
  machineBusy: number;
}

export class CpuMeter {
  private readonly named = new Map<string, number>();
  private temporal: number[] | undefined;

  /** `pool` is a connection to the bench database, to find the backends in pg_stat_activity. */
  constructor(private readonly pool: pg.Pool) {}

  /** A process to follow by name (the API, the worker, a baseline…). */
  track(name: string, pid: number): void {
    this.named.set(name, pid);
  }

  async snapshot(): Promise<CpuSnapshot> {
    const perProcess: Record<string, number> = {};
    const self = readStat(process.pid);
    if (self) perProcess.bench = self.cpuMs;
    for (const [name, pid] of this.named) {
      const s = readStat(pid);
      if (s) perProcess[name] = s.cpuMs;
    }
    this.temporal ??= temporalPids();
    for (const pid of this.temporal) {
      const s = readStat(pid);
      if (s) perProcess.temporal = (perProcess.temporal ?? 0) + s.cpuMs;
    }
    try {
      const { rows } = await this.pool.query<{ pid: number; app: string }>(
        `SELECT pid, application_name AS app FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'bench:%'`,
      );
      for (const r of rows) {
        const s = readStat(r.pid);
        const key = `pg:${r.app.slice('bench:'.length)}`;
        if (s) perProcess[key] = (perProcess[key] ?? 0) + s.cpuMs;
      }
    } catch {
      // PostgreSQL elsewhere, or unreachable: no backend figures
    }
    return { perProcess, machine: machine() };
  }

  static since(a: CpuSnapshot, b: CpuSnapshot): CpuUsage {
    const ms: Record<string, number> = {};
    // A backend that appeared meanwhile counts from its start (0 before).
    for (const [name, v] of Object.entries(b.perProcess)) ms[name] = Math.max(0, v - (a.perProcess[name] ?? (name.startsWith('pg:') ? 0 : v)));
    const total = b.machine.total - a.machine.total;
    return { ms, machineBusy: total > 0 ? (b.machine.busy - a.machine.busy) / total : NaN };
  }
}

/** CPU ms of the named processes (and their PostgreSQL backends), per unit of work. */
export function cpuPer(ms: CpuUsage['ms'], names: string[], units: number): number {
  let sum = 0;
  for (const n of names) sum += (ms[n] ?? 0) + (ms[`pg:${n}`] ?? 0);
  return units > 0 ? sum / units : NaN;
}

/** "api 210, worker 120, temporal 300 …" CPU ms per `per` units of work. */
export function describeCpu(u: CpuUsage, units: number, per: number, unitName: string): string {
  const parts = Object.entries(u.ms)
    .filter(([, v]) => v > 0)
    .sort((x, y) => y[1] - x[1])
    .map(([name, v]) => `${name} ${Math.round((v / units) * per)}`);
  return `CPU ms per ${per.toLocaleString('en-US')} ${unitName}: ${parts.join(', ')}; machine ${Math.round(u.machineBusy * 100)}% busy (all processes)`;
}
