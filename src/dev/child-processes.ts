import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Helpers shared by the local servers `hooksync dev` and the tests start. */

export function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

const TAIL_CHARS = 8_000;

/** Keeps only the last few KB of a child's output, to explain a failure. */
export function appendTail(tail: string[], chunk: Buffer | string): void {
  tail.push(chunk.toString());
  let total = tail.reduce((n, s) => n + s.length, 0);
  while (tail.length > 1 && total > TAIL_CHARS) total -= tail.shift()!.length;
}

export function fileTail(file: string, lines = 30): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.slice(-TAIL_CHARS).split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export function portInUseMessage(host: string, port: number, what: string, likely: string): string {
  return (
    `port ${port} on ${host} (${what}) is already in use: ${likely}. ` +
    `Stop that process (find it with \`ss -ltnp 'sport = :${port}'\`) or choose another port.`
  );
}

let setprivDeathSig: boolean | undefined;

/**
 * Wraps a command in `setpriv --pdeathsig` where util-linux has it, so the child gets `signal`
 * when this process dies, even by SIGKILL; otherwise an orphan would keep its port and files.
 * `setprivArgs` can add setpriv's own options (e.g. to drop root).
 */
export function withParentDeathSignal(signal: NodeJS.Signals, command: string, args: string[], setprivArgs: string[] = []): [string, string[]] {
  if (setprivDeathSig === undefined) {
    const help = process.platform === 'linux' ? spawnSync('setpriv', ['--help'], { encoding: 'utf8' }) : undefined;
    setprivDeathSig = !!help && help.status === 0 && help.stdout.includes('--pdeathsig');
  }
  if (!setprivDeathSig) {
    if (setprivArgs.length > 0) throw new Error('setpriv (util-linux) is needed to run this as another user');
    return [command, args];
  }
  return ['setpriv', [...setprivArgs, '--pdeathsig', signal, '--', command, ...args]];
}

export function hasSetpriv(): boolean {
  withParentDeathSignal('SIGTERM', 'true', []);
  return setprivDeathSig === true;
}
