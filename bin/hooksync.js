#!/usr/bin/env node
// The CLI runs straight from its TypeScript sources: there is no build step to forget.
require('tsx/cjs');
require('../cli/index.ts');
