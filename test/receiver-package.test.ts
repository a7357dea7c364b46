import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT } from './support/httpsync';

/**
 * hooksync/receiver as users get it: loaded by plain Node (no TypeScript loader) with require and
 * import, without Temporal, Koa or a database driver; and from `npm pack` of a fresh clone
 * installed into an empty project, with its types.
 */
const LOADED = `
  const names = Object.keys(require.cache).filter((f) => f.includes('node_modules')).map((f) => f.split('node_modules/').pop().split('/').slice(0, 2).join('/'));
  console.log(JSON.stringify({ exports: Object.keys(kit).sort(), packages: [...new Set(names)] }));
`;
const EXPORTS = ['PageVerificationError', 'createFetchHandler', 'createPageHandler', 'createReceiver', 'memoryStore', 'pgStore', 'verifyPage'];
const HEAVY = /^(@temporalio\/|koa|@koa\/|pg\/|pg-|pino)/;

/** Runs plain node (no tsx) in `cwd`, with `code` as CommonJS or as an ES module. */
function node(cwd: string, code: string, type: 'commonjs' | 'module') {
  const r = spawnSync(process.execPath, ['--input-type', type, '-e', code], { cwd, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME } });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { exports: string[]; packages: string[] };
}

function loadsLightly(cwd: string) {
  const required = node(cwd, `const kit = require('hooksync/receiver');${LOADED}`, 'commonjs');
  const imported = node(cwd, `import * as kit from 'hooksync/receiver'; import { createRequire } from 'node:module'; const require = createRequire(process.cwd() + '/x.js'); if (kit.PageVerificationError !== require('hooksync/receiver').PageVerificationError) throw new Error('two classes');${LOADED.replace('Object.keys(kit)', "Object.keys(kit).filter((k) => k !== 'default')")}`, 'module');
  for (const r of [required, imported]) {
    assert.deepEqual(r.exports, EXPORTS);
    assert.deepEqual(r.packages.filter((p) => HEAVY.test(p)), [], `loaded: ${r.packages.join(', ')}`);
    assert.ok(r.packages.includes('standardwebhooks/dist'), 'verifies with standardwebhooks');
  }
}

describe('hooksync/receiver as a package', { timeout: 10 * 60_000 }, () => {
  const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'hooksync-receiver-pack-'));
  const CLONE = path.join(WORK, 'clone');
  const PROJECT = path.join(WORK, 'project');
  before(() => fs.mkdirSync(PROJECT));
  after(() => fs.rmSync(WORK, { recursive: true, force: true }));

  test('in this checkout: require and import load the kit, standardwebhooks and no Temporal, Koa or pg', () => {
    loadsLightly(ROOT);
  });

  test('npm pack of a fresh clone, installed into an empty project: require, import and the .d.ts, which type-checks', (t) => {
    // A fresh clone: the files git tracks, plus new ones it does not ignore, as they are now.
    const files = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(files.status, 0, files.stderr);
    for (const f of files.stdout.split('\0').filter(Boolean)) {
      if (!fs.existsSync(path.join(ROOT, f))) continue; // deleted in the work tree
      fs.mkdirSync(path.dirname(path.join(CLONE, f)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, f), path.join(CLONE, f));
    }
    const npm = (cwd: string, args: string[]) => {
      const started = Date.now();
      const r = spawnSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8', timeout: 8 * 60_000 });
      assert.equal(r.status, 0, `npm ${args.join(' ')}: ${r.stderr}`);
      t.diagnostic(`npm ${args[0]}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return r.stdout;
    };
    const packed = JSON.parse(npm(CLONE, ['pack', '--json', '--pack-destination', WORK]))[0] as { filename: string; files: Array<{ path: string }> };
    const inTarball = packed.files.map((f) => f.path);
    for (const f of ['receiver/index.js', 'receiver/index.mjs', 'receiver/index.d.ts', 'receiver/pg-store.js', 'examples/receiver/express.mjs']) assert.ok(inTarball.includes(f), f);

    fs.writeFileSync(path.join(PROJECT, 'package.json'), JSON.stringify({ name: 'receiver-app', private: true }));
    // Its dependencies from npm's cache where they are; scripts are not needed by the kit.
    npm(PROJECT, ['install', '--prefer-offline', '--ignore-scripts', path.join(WORK, packed.filename)]);
    loadsLightly(PROJECT);
    assert.ok(fs.existsSync(path.join(PROJECT, 'node_modules', 'hooksync', 'receiver', 'index.d.ts')));

    // A TypeScript user of the kit (resolved through package.json's exports, as with module node16).
    fs.writeFileSync(
      path.join(PROJECT, 'receiver.ts'),
      `import { createReceiver, createFetchHandler, pgStore, verifyPage, PageVerificationError, type Page } from 'hooksync/receiver';
interface Client { query(text: string, values?: unknown[]): Promise<{ rowCount: number | null; command: string }>; release(): void; tag: 'mine' }
declare const pool: { connect(): Promise<Client>; query(text: string): Promise<unknown> };
export const handler = createReceiver({ secrets: ['whsec_a', 'whsec_b'], store: pgStore({ pool }), onPage: async (page: Page, { pageId, client }) => { const tag: 'mine' = client.tag; void [page.rows.length, pageId.length, tag]; } });
export const route: (r: Request) => Promise<Response> = createFetchHandler({ secrets: 'whsec_a', onPage: () => {} });
export function check(body: Uint8Array, headers: Headers): number { try { return verifyPage(body, headers, 'whsec_a').rows.length; } catch (e) { return e instanceof PageVerificationError ? e.status : 0; } }
`,
    );
    const tsc = spawnSync(
      process.execPath,
      [require.resolve('typescript/bin/tsc'), '--noEmit', '--strict', '--module', 'node16', '--moduleResolution', 'node16', '--target', 'es2022', '--lib', 'es2022,dom', '--types', 'node', '--typeRoots', path.join(ROOT, 'node_modules', '@types'), 'receiver.ts'],
      { cwd: PROJECT, encoding: 'utf8' },
    );
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
  });
});
