import fs from 'node:fs';
import path from 'node:path';

/**
 * postmaster.pid outlives a postgres that was killed. PostgreSQL copes when that pid is gone,
 * but not when the pid now belongs to an unrelated process, nor with its own postgres orphaned
 * by a killed run (alive, holding the directory): stop the orphan, drop the stale file.
 */
export async function clearStalePostmaster(dataDir: string, log: (msg: string) => void): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return;
  const cmdline = readProc(pid, 'cmdline').split('\0');
  const ours = path.basename(cmdline[0] ?? '') === 'postgres' && cmdline.includes(dataDir);
  if (!ours) {
    fs.rmSync(pidFile, { force: true });
    return;
  }
  const ppid = Number(readProc(pid, 'stat').replace(/^.*\)\s+/, '').split(' ')[1]);
  const parent = readProc(ppid, 'comm').trim();
  if (ppid > 1 && parent.startsWith('node')) {
    throw new Error(`PostgreSQL is already running on ${dataDir} (pid ${pid}, started by process ${ppid}); stop that process first`);
  }
  log(`Stopping PostgreSQL pid ${pid}, left running on ${dataDir} by an earlier run…`);
  for (const [signal, waitMs] of [['SIGINT', 15_000], ['SIGQUIT', 5_000], ['SIGKILL', 5_000]] as const) {
    if (!alive(pid)) break;
    process.kill(pid, signal);
    const until = Date.now() + waitMs;
    while (alive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readProc(pid: number, file: string): string {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}
