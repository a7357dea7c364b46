import fs from 'node:fs';
import path from 'node:path';
import { spawnNode, type Child } from './children';
import { freePort } from '../../src/ports';
import { HOOKSYNC_BIN, ROOT, runCli } from './httpsync';
import { waitFor } from './harness';

/** Helpers for the tests that run hooksync's own processes against a real Temporal cluster. */

/** host, port, user and password of a postgres:// URL, for Temporal's configuration. */
export function postgresAccess(url: string) {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
}

/** A `hooksync <command>` child process; its output goes to `<logDir>/<name>.log`. */
export function spawnHooksync(name: string, command: string, env: NodeJS.ProcessEnv, logDir: string): Child {
  return spawnNode({ name, args: [HOOKSYNC_BIN, command], env, logDir, cwd: ROOT });
}

export async function startApiProcess(name: string, env: NodeJS.ProcessEnv, logDir: string): Promise<{ child: Child; url: string }> {
  const port = await freePort('127.0.0.1');
  const child = spawnHooksync(name, 'api', { ...env, PORT: String(port) }, logDir);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.proc.exitCode !== null) throw new Error(`${name} exited: ${child.tail()}`);
      return (await fetch(`${url}/healthz`)).ok;
    },
    { what: `${name} to answer /healthz`, timeoutMs: 90_000, intervalMs: 200 },
  );
  return { child, url };
}

/** Waits until the process has a poller on the task queue's activity side (it is really working). */
export async function waitUntilPolling(child: Child, describePollers: () => Promise<string[]>, timeoutMs = 90_000): Promise<void> {
  await waitFor(
    async () => {
      if (child.proc.exitCode !== null) throw new Error(`${child.name} exited: ${child.tail()}`);
      const identities = await describePollers();
      return identities.some((id) => id.startsWith(`${child.pid}@`));
    },
    { what: `${child.name} (pid ${child.pid}) to poll`, timeoutMs, intervalMs: 100 },
  );
}

/** Runs a hooksync CLI command with --json and returns the document it printed. */
export async function cliJson(args: string[], env: NodeJS.ProcessEnv): Promise<any> {
  const r = await runCli([...args, '--json'], { env, timeoutMs: 90_000 });
  if (r.code !== 0) throw new Error(`hooksync ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/**
 * The pid (among `pids`) that owns the TCP connection from local port `clientPort` to
 * `serverPort` on this machine, read from /proc: which worker sends a given POST.
 */
export function ownerOfConnection(clientPort: number, serverPort: number, pids: number[]): number | undefined {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const local = parseInt(f[1]!.split(':').pop()!, 16);
      const remote = parseInt(f[2]!.split(':').pop()!, 16);
      if (local === clientPort && remote === serverPort) inodes.add(f[9]!);
    }
  }
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(path.join(`/proc/${pid}/fd`, fd)));
        if (m && inodes.has(m[1]!)) return pid;
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}
