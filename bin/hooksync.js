#!/usr/bin/env node
'use strict';
// The compiled CLI (dist/, made by `npm run build`) when it was built from the sources as they are
// now; otherwise the TypeScript sources through tsx, so an edit never runs old code.
// HOOKSYNC_FROM_SOURCE=1 runs the sources even when dist/ is current.
const path = require('node:path');
const { DIST, compiledIsCurrent } = require('./build-stamp');

if (process.env.HOOKSYNC_FROM_SOURCE !== '1' && compiledIsCurrent()) {
  require(path.join(DIST, 'cli', 'index.js'));
} else {
  try {
    require('tsx/cjs');
  } catch {
    process.stderr.write(
      'error: dist/ is missing or older than the sources, and tsx (a development dependency) is not installed to run them: run `npm run build`\n',
    );
    process.exit(1);
  }
  require('../cli/index.ts');
}
