import fs from 'node:fs';
import type pg from 'pg';

/**
 * Where the CPU goes during a measurement: user+system time of each process of the stack (from
 * /proc/<pid>/stat), of the PostgreSQL backends serving each of them (found by application_name
 * in pg_stat_activity; each bench process connects with its own) and of the Temporal dev server.
 * Unlike throughput, CPU per event hardly depends on what else the machine is doing.
 */

const TICK_MS = 10; // USER_HZ is 100 on Linux
/** The PostgreSQL server's background processes, in a CpuUsage (`pg:background:<pid>` in a snapshot). */
export const BACKGROUND = 'pg:background';
/**
 * Every process of the PostgreSQL cluster together: the postmaster, its children alive now and
 * those that ended (the postmaster's cutime/cstime), whoever they served. A phase that loads one
 * system at a time charges it the whole server this way, backends that came and went included.
 */
export const CLUSTER = 'postgres';

/** The postmaster's pid, from a backend's parent; undefined when the server is not on this machine. */
async function postmasterPid(pool: pg.Pool): Promise<number | undefined> {
  try {
    const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const ppid = readStat(rows[0]!.pid)?.ppid;
    return ppid && readStat(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}

function clusterCpuMs(postmaster: number): number | undefined {
  const own = readStat(postmaster);
  if (!own) return undefined;
  let ms = own.cpuMs + own.childrenCpuMs;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const s = readStat(Number(d));
    if (s?.ppid === postmaster) ms += s.cpuMs;
  }
  return ms;
}

function readStat(pid: number): { comm: string; ppid: number; cpuMs: number; childrenCpuMs: number } | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = s.lastIndexOf(')');
    const comm = s.slice(s.indexOf('(') + 1, close);
    const f = s.slice(close + 2).split(' ');
    // After "(comm) ": state, ppid, …; utime and stime are fields 14 and 15, i.e. 11 and 12 here;
    // cutime and cstime (of the children that ended and were waited for) 16 and 17.
    return { comm, ppid: Number(f[1]), cpuMs: (Number(f[11]) + Number(f[12])) * TICK_MS, childrenCpuMs: (Number(f[13]) + Number(f[14])) * TICK_MS };
  } catch {
    return undefined;
  }
}

/** The Temporal dev server is a child of this process (setpriv execs into it). */
function temporalPids(): number[] {
  const pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  return pids.filter((pid) => {
    const s = readStat(pid);
    return s?.ppid === process.pid && s.comm === 'temporal';
  });
}

/**
 * CPU ms used by each process (group) so far; `pg:<name>` are the PostgreSQL backends serving
 * <name>, `pg:background:<pid>` the server's background processes (summed up by `since`).
 */
export type CpuSnapshot = Record<string, number>;
/** The same over an interval. */
export type CpuUsage = Record<string, number>;

export class CpuMeter {
  private readonly named = new Map<string, number>();
  private temporal: number[] | undefined;
  private postmaster: Promise<number | undefined> | undefined;

  /** `pool` is a connection to the bench database, to find the backends in pg_stat_activity. */
  constructor(private readonly pool: pg.Pool) {}

  /** A process to follow by name (the API, the worker, a baseline…). */
  track(name: string, pid: number): void {
    this.named.set(name, pid);
  }

  async snapshot(): Promise<CpuSnapshot> {
    const perProcess: Record<string, number> = {};
    const add = (key: string, pid: number) => {
      const s = readStat(pid);
      if (s) perProcess[key] = (perProcess[key] ?? 0) + s.cpuMs;
    };
    add('bench', process.pid);
    for (const [name, pid] of this.named) add(name, pid);
    this.temporal ??= temporalPids();
    for (const pid of this.temporal) add('temporal', pid);
    this.postmaster ??= postmasterPid(this.pool);
    const postmaster = await this.postmaster;
    const cluster = postmaster === undefined ? undefined : clusterCpuMs(postmaster);
    if (cluster !== undefined) perProcess[CLUSTER] = cluster;
    try {
      // And the server's own background processes (WAL writer, checkpointer, background writer,
      // autovacuum), as `pg:background`: commits that do not wait for their WAL flush leave the
      // writing to the WAL writer. They serve the whole cluster, so other work on it shows there.
      const { rows } = await this.pool.query<{ pid: number; app: string | null }>(
        `SELECT pid, CASE WHEN backend_type = 'client backend' THEN application_name END AS app FROM pg_stat_activity
          WHERE (datname = current_database() AND application_name LIKE 'bench:%') OR backend_type <> 'client backend'`,
      );
      // Per process: an autovacuum worker that ended meanwhile must not cancel the others' time.
      for (const r of rows) add(r.app === null ? `${BACKGROUND}:${r.pid}` : `pg:${r.app.slice('bench:'.length)}`, r.pid);
    } catch {
      // PostgreSQL elsewhere, or unreachable: no backend figures
    }
    return perProcess;
  }

  static since(a: CpuSnapshot, b: CpuSnapshot): CpuUsage {
    const ms: CpuUsage = {};
    // A backend that appeared meanwhile counts from its start (0 before).
    for (const [name, v] of Object.entries(b)) {
      const used = Math.max(0, v - (a[name] ?? (name.startsWith('pg:') ? 0 : v)));
      if (name.startsWith(`${BACKGROUND}:`)) ms[BACKGROUND] = (ms[BACKGROUND] ?? 0) + used;
      else ms[name] = used;
    }
    return ms;
  }
}

/** CPU ms of the named processes (and their PostgreSQL backends), per unit of work. */
export function cpuPer(ms: CpuUsage, names: string[], units: number): number {
  let sum = 0;
  for (const n of names) sum += (ms[n] ?? 0) + (ms[`pg:${n}`] ?? 0);
  return units > 0 ? sum / units : NaN;
}
