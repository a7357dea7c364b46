import fs from 'node:fs';

/**
 * Where the CPU goes during a measurement: user+system time of each process of the stack (from
 * /proc/<pid>/stat) and how busy the whole machine was (/proc/stat). PostgreSQL is every process
 * named postgres, so on a shared server it includes other clients' work.
 */

const TICK_MS = 10; // USER_HZ is 100 on Linux

function readStat(pid: number): { comm: string; ppid: number; cpuMs: number } | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = s.lastIndexOf(')');
    const comm = s.slice(s.indexOf('(') + 1, close);
    const f = s.slice(close + 2).split(' ');
    // After "(comm) ": state ppid … utime is field 14 overall, i.e. index 11 here; stime index 12.
    return { comm, ppid: Number(f[1]), cpuMs: (Number(f[11]) + Number(f[12])) * TICK_MS };
  } catch {
    return undefined;
  }
}

function allPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

function machine(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = line.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = line[3]! + (line[4] ?? 0);
  return { busy: (total - idle) * TICK_MS, total: total * TICK_MS };
}

export interface CpuSnapshot {
  perProcess: Record<string, number>;
  machine: { busy: number; total: number };
}

export interface CpuUsage {
  /** CPU ms used by each process group over the interval. */
  ms: Record<string, number>;
  /** Share of the machine's capacity (all cores) in use, 0..1. */
  machineBusy: number;
}

export class CpuMeter {
  private readonly named = new Map<string, number>();

  /** A process to follow by name (the API, the worker, a baseline…). */
  track(name: string, pid: number): void {
    this.named.set(name, pid);
  }

  snapshot(): CpuSnapshot {
    const perProcess: Record<string, number> = {};
    const self = readStat(process.pid);
    if (self) perProcess.bench = self.cpuMs;
    for (const [name, pid] of this.named) {
      const s = readStat(pid);
      if (s) perProcess[name] = s.cpuMs;
    }
    let postgres = 0;
    for (const pid of allPids()) {
      const s = readStat(pid);
      if (!s) continue;
      if (s.comm === 'postgres' || s.comm.startsWith('postgres')) postgres += s.cpuMs;
      // The Temporal dev server is our child (setpriv execs it).
      else if (s.ppid === process.pid && s.comm === 'temporal') perProcess.temporal = (perProcess.temporal ?? 0) + s.cpuMs;
    }
    perProcess.postgres = postgres;
    return { perProcess, machine: machine() };
  }

  static since(a: CpuSnapshot, b: CpuSnapshot): CpuUsage {
    const ms: Record<string, number> = {};
    for (const [name, v] of Object.entries(b.perProcess)) ms[name] = Math.max(0, v - (a.perProcess[name] ?? v));
    const total = b.machine.total - a.machine.total;
    return { ms, machineBusy: total > 0 ? (b.machine.busy - a.machine.busy) / total : NaN };
  }
}

/** "api 210, worker 120, temporal 300 …" CPU ms per `per` units of work. */
export function describeCpu(u: CpuUsage, units: number, per: number, unitName: string): string {
  const parts = Object.entries(u.ms)
    .filter(([, v]) => v > 0)
    .sort((x, y) => y[1] - x[1])
    .map(([name, v]) => `${name} ${Math.round((v / units) * per)}`);
  return `CPU ms per ${per.toLocaleString('en-US')} ${unitName}: ${parts.join(', ')}; machine ${Math.round(u.machineBusy * 100)}% busy`;
}
