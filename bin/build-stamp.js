'use strict';
// What decides whether dist/ may run: a fingerprint of the sources it was compiled from. Only
// file names, sizes and modification times are read (a few milliseconds at every start), so an
// edit, a checkout or a new file makes dist/ stale and the sources run instead; never old code.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const BUILD_INFO = path.join(DIST, 'build-info.json');
/** What the compiled code is made of; tsconfig*.json change what tsc emits. */
const SOURCE_DIRS = ['src', 'cli'];
const SOURCE_FILES = ['tsconfig.json', 'tsconfig.build.json'];

function walk(dir, out) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) walk(full, out);
    else if (e.isFile()) out.push(full);
  }
}

/** undefined when there are no sources (an image with dist/ only). */
function sourceStamp() {
  if (!fs.existsSync(path.join(ROOT, 'src'))) return undefined;
  const files = [];
  for (const dir of SOURCE_DIRS) walk(path.join(ROOT, dir), files);
  for (const f of SOURCE_FILES) files.push(path.join(ROOT, f));
  const hash = crypto.createHash('sha256');
  for (const file of files.map((f) => path.relative(ROOT, f)).sort()) {
    let st;
    try {
      st = fs.statSync(path.join(ROOT, file));
    } catch {
      continue;
    }
    hash.update(`${file}\0${st.size}\0${st.mtimeMs}\n`);
  }
  return hash.digest('hex');
}

function readBuildInfo() {
  try {
    return JSON.parse(fs.readFileSync(BUILD_INFO, 'utf8'));
  } catch {
    return undefined;
  }
}

/** dist/ is there and was built from the sources as they are now (or there are no sources). */
function compiledIsCurrent() {
  const info = readBuildInfo();
  if (!info || !fs.existsSync(path.join(DIST, 'cli', 'index.js'))) return false;
  const stamp = sourceStamp();
  return stamp === undefined || stamp === info.sourceStamp;
}

module.exports = { ROOT, DIST, BUILD_INFO, sourceStamp, readBuildInfo, compiledIsCurrent };
