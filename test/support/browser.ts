import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

/**
 * The Chromium the UI tests drive: HOOKSYNC_TEST_CHROMIUM, else the system's (/usr/bin/chromium),
 * else the one the project brings (@sparticuz/chromium, a brotli'd build unpacked into the temporary
 * folder on first use), so that `npm test` needs no browser installed. Not finding one is an error.
 */

export interface Chromium {
  executablePath: string;
  /** Extra environment for the browser process (the bundled build's libraries, where the system lacks them). */
  env: Record<string, string>;
  source: string;
}

const SYSTEM = '/usr/bin/chromium';

const isExecutable = (file: string) => {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
};

/** Shared libraries the dynamic linker cannot find for `exe` (with `env`'s LD_LIBRARY_PATH). */
function missingLibraries(exe: string, env: Record<string, string>): string[] {
  try {
    const out = execFileSync('ldd', [exe], { env: { ...process.env, ...env }, encoding: 'utf8' });
    return [...out.matchAll(/^\s*(\S+) => not found/gm)].map((m) => m[1]!);
  } catch {
    return []; // no ldd: let the launch tell
  }
}

let found: Promise<Chromium> | undefined;

export function findChromium(): Promise<Chromium> {
  found ??= locate();
  return found;
}

async function locate(): Promise<Chromium> {
  const given = process.env.HOOKSYNC_TEST_CHROMIUM;
  if (given) {
    if (!isExecutable(given)) throw new Error(`HOOKSYNC_TEST_CHROMIUM=${given} is not an executable file`);
    return { executablePath: given, env: {}, source: 'HOOKSYNC_TEST_CHROMIUM' };
  }
  if (isExecutable(SYSTEM)) return { executablePath: SYSTEM, env: {}, source: 'system' };
  const { default: bundled } = await import('@sparticuz/chromium');
  const executablePath = await bundled.executablePath();
  // The package unpacks the NSS libraries Chromium needs only on Amazon Linux; a machine without
  // them (no browser ever installed) gets them from the same package.
  const env: Record<string, string> = {};
  if (missingLibraries(executablePath, env).length > 0) {
    const libs = unpackLibraries();
    env.LD_LIBRARY_PATH = [libs, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  }
  const missing = missingLibraries(executablePath, env);
  if (missing.length > 0) {
    throw new Error(`the bundled Chromium (${executablePath}) lacks ${missing.join(', ')}: install Chromium (apt-get install -y chromium) or set HOOKSYNC_TEST_CHROMIUM`);
  }
  return { executablePath, env, source: `@sparticuz/chromium, unpacked to ${executablePath}` };
}

/** al2023.tar.br of @sparticuz/chromium into a folder of its own (once); returns its lib folder. */
function unpackLibraries(): string {
  const dir = path.join(os.tmpdir(), 'hooksync-chromium-libs');
  const lib = path.join(dir, 'lib');
  if (fs.existsSync(path.join(lib, 'libnss3.so'))) return lib;
  const archive = path.join(path.dirname(require.resolve('@sparticuz/chromium')), '..', '..', 'bin', 'al2023.tar.br');
  // Into a private folder, then renamed: a concurrent run never sees half of it.
  const tmp = fs.mkdtempSync(`${dir}-`);
  try {
    execFileSync('tar', ['-x', '-C', tmp], { input: zlib.brotliDecompressSync(fs.readFileSync(archive)) });
    fs.renameSync(tmp, dir);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!fs.existsSync(path.join(lib, 'libnss3.so'))) throw err;
  }
  return lib;
}
