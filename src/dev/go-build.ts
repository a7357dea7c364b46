import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { appendTail, findOnPath, isExecutable } from './child-processes';

/** Building Temporal's tools from source with Go: only the Go module proxy is needed, no release downloads. */

export function findGo(): string | undefined {
  return findOnPath('go') ?? (isExecutable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
}

export class BuildInterrupted extends Error {
  override name = 'BuildInterrupted';
}

/**
 * `go install` of `packages` (each `module/path@version`) into `gobin`. Resolves false (after
 * logging the tail of Go's output) when the build fails; throws BuildInterrupted on a signal.
 */
export async function goInstall(go: string, packages: string[], gobin: string, what: string, log: (msg: string) => void): Promise<boolean> {
  const started = Date.now();
  const ticker = setInterval(() => log(`  still building ${what} (${Math.round((Date.now() - started) / 1000)} s)…`), 60_000);
  try {
    for (const pkg of packages) {
      const output: string[] = [];
      const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
        const child = spawn(go, ['install', pkg], { env: { ...process.env, GOBIN: gobin }, stdio: ['ignore', 'pipe', 'pipe'] });
        child.stdout.on('data', (c: Buffer) => appendTail(output, c));
        child.stderr.on('data', (c: Buffer) => appendTail(output, c));
        child.on('error', reject);
        child.on('close', (code, signal) => resolve({ code, signal }));
      });
      // A Ctrl-C reached the build too: that is no reason to try elsewhere.
      if (signal) throw new BuildInterrupted(`the build of ${what} was interrupted (${signal})`);
      if (code !== 0) {
        log(`Building ${what} failed (go install ${pkg}, exit ${code}):\n${output.join('').trim().split('\n').slice(-15).join('\n')}`);
        return false;
      }
    }
    log(`Built ${what} in ${Math.round((Date.now() - started) / 1000)} s`);
    return true;
  } catch (err) {
    if (err instanceof BuildInterrupted) throw err;
    log(`Could not run ${go}: ${(err as Error).message}`);
    return false;
  } finally {
    clearInterval(ticker);
  }
}

/**
 * Builds into a private directory beside `target` and renames it into place at the end, so an
 * interrupted or concurrent build never leaves a half-made result at the cached path.
 * `fill(dir)` builds into dir and resolves whether it succeeded. While another process builds the
 * same target (its lock file names a live process), this waits for that build instead of
 * compiling the same packages a second time.
 */
export async function buildIntoPlace(target: string, fill: (dir: string) => Promise<boolean>, log?: (msg: string) => void): Promise<boolean> {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const lock = `${target}.lock`;
  let told = false;
  while (!takeLock(lock)) {
    if (fs.existsSync(target)) return true;
    if (!told) log?.(`Waiting for the build of ${path.basename(target)} that another process runs…`);
    told = true;
    await new Promise((r) => setTimeout(r, 2_000));
  }
  try {
    if (fs.existsSync(target)) return true;
    const buildDir = fs.mkdtempSync(path.join(path.dirname(target), '.build-'));
    try {
      if (!(await fill(buildDir))) return false;
      try {
        fs.renameSync(buildDir, target);
      } catch (err) {
        // Another build finished first: its result is as good as ours.
        if (!fs.existsSync(target)) throw err;
      }
      return true;
    } finally {
      fs.rmSync(buildDir, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/** Creates `lock` with this process's id; false while a live process holds it (a dead one's is taken over). */
function takeLock(lock: string): boolean {
  try {
    fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const holder = Number(fs.readFileSync(lock, 'utf8'));
  try {
    if (holder) process.kill(holder, 0);
    if (holder) return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPERM') return false;
  }
  fs.rmSync(lock, { force: true });
  return takeLock(lock);
}
