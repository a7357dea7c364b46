#!/usr/bin/env node
'use strict';
// `npm run build`: compiles src/ and cli/ to dist/ (tsc, tsconfig.build.json), copies the SQL
// migrations beside their module, and bundles the workflow code once, so that `hooksync worker`
// loads the bundle instead of running webpack at every start. Built into a temporary directory and
// renamed, so a failed or interrupted build never leaves a half-made dist/ that would run.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT, DIST, sourceStamp } = require('./build-stamp');

async function main() {
  const started = Date.now();
  // Taken first: a file edited while the build runs makes the result stale, not silently old.
  const stamp = sourceStamp();
  const out = path.join(ROOT, `.dist-build-${process.pid}`);
  fs.rmSync(out, { recursive: true, force: true });
  try {
    const tsc = require.resolve('typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', out], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`tsc failed (exit ${r.status ?? r.signal})`);

    const migrations = path.join('src', 'db', 'migrations');
    fs.cpSync(path.join(ROOT, migrations), path.join(out, migrations), { recursive: true, filter: (f) => !f.endsWith('.ts') });

    const { bundleWorkflowCode } = require('@temporalio/worker');
    const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn: (m) => console.error(`bundler: ${m}`), error: (m) => console.error(`bundler: ${m}`) };
    const { code } = await bundleWorkflowCode({ workflowsPath: path.join(out, 'src', 'workflows', 'index.js'), logger: quiet });
    fs.writeFileSync(path.join(out, 'workflow-bundle.js'), code);

    const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
    fs.writeFileSync(path.join(out, 'build-info.json'), JSON.stringify({ version, sourceStamp: stamp, builtAt: new Date().toISOString() }, null, 2) + '\n');

    fs.rmSync(DIST, { recursive: true, force: true });
    fs.renameSync(out, DIST);
  } catch (err) {
    fs.rmSync(out, { recursive: true, force: true });
    throw err;
  }
  console.error(`built dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((err) => {
  console.error(`build failed: ${err.message}`);
  process.exit(1);
});
