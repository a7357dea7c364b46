import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';

const ROOT = path.resolve(__dirname, '..', '..');

interface Restriction {
  paths: Array<{ name: string }>;
  patterns: Array<{ regex: string; allowTypeImports?: boolean }>;
}

/** What `npm run lint` refuses as a value import in `file`, as ESLint's own config resolution sees it. */
async function refusedImports(file: string): Promise<(source: string) => boolean> {
  const config = (await new ESLint({ cwd: ROOT }).calculateConfigForFile(path.join(ROOT, file))) as { rules: Record<string, unknown[]> };
  const rule = config.rules['@typescript-eslint/no-restricted-imports'];
  if (!rule) return () => false;
  assert.equal(rule[0], 2, 'an error, not a warning');
  const { paths, patterns } = rule[1] as Restriction;
  return (source) => paths.some((p) => p.name === source) || patterns.some((p) => new RegExp(p.regex).test(source));
}

test('workflow code may import only the workflow SDK and pure local modules', async () => {
  const refused = await refusedImports('src/workflows/httpsync.ts');
  for (const source of ['fs', 'node:fs', 'crypto', 'node:crypto', 'net', 'pg', 'undici', 'koa', 'pino', '@temporalio/activity', '@temporalio/client', '../activities', '../db/pool', '../http/post-page', '../config']) {
    assert.ok(refused(source), `${source} is refused`);
  }
  for (const source of ['@temporalio/workflow', '@temporalio/common', './httpsync-state', '../contract/messages', '../text/format', '../text/markdown']) {
    assert.ok(!refused(source), `${source} is allowed`);
  }
});

test('outside the workflows, imports are free', async () => {
  const refused = await refusedImports('src/activities/deliver-pages.ts');
  assert.ok(!refused('pg') && !refused('node:fs'));
});

test('floating and misused promises are errors everywhere', async () => {
  for (const file of ['src/api/app.ts', 'cli/index.ts', 'test/stack.test.ts', 'bench/run.ts']) {
    const config = (await new ESLint({ cwd: ROOT }).calculateConfigForFile(path.join(ROOT, file))) as { rules: Record<string, unknown[]> };
    assert.equal(config.rules['@typescript-eslint/no-floating-promises']?.[0], 2, file);
    assert.equal(config.rules['@typescript-eslint/no-misused-promises']?.[0], 2, file);
  }
});

/**
 * The layer rules of `npm run imports` (.dependency-cruiser.cjs), run on a small tree of bad
 * imports in a scratch directory: each rule fires, type-only imports included, and a workflow's
 * type-only import of the activities passes.
 */
test('imports point down and close no circle, type-only imports included', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hooksync-layers-'));
  const write = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  };
  write('src/services/targets.ts', 'export const service = 1;\n');
  write('src/activities/index.ts', "import { service } from '../services/targets';\nexport const activities = { service };\nexport type Activities = typeof activities;\n");
  write('src/workflows/by-value.ts', "import { activities } from '../activities';\nexport const w = activities;\n");
  write('src/workflows/by-type.ts', "import type { Activities } from '../activities';\nexport type W = Activities;\n");
  write('src/services/uses-activity.ts', "import type { Activities } from '../activities';\nexport type S = Activities;\n");
  write('src/contract/a.ts', "import type { B } from './b';\nexport interface A { b?: B }\n");
  write('src/contract/b.ts', "import type { A } from './a';\nexport interface B { a?: A }\n");
  write('src/contract/reaches-up.ts', "import { service } from '../services/targets';\nexport const c = service;\n");
  write('src/db/reaches-up.ts', "import type { S } from '../services/uses-activity';\nexport type D = S;\n");
  try {
    const { forbidden } = require(path.join(ROOT, '.dependency-cruiser.cjs')) as { forbidden: unknown[] };
    const { cruise } = (await import('dependency-cruiser')) as typeof import('dependency-cruiser');
    const result = await cruise(['src'], { baseDir: dir, ruleSet: { forbidden } as never, validate: true, tsPreCompilationDeps: true, outputType: 'json' });
    const output = (typeof result.output === 'string' ? JSON.parse(result.output) : result.output) as {
      summary: { violations: Array<{ rule: { name: string }; from: string; to: string }> };
    };
    const found = new Set(output.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`));
    for (const expected of [
      'activities-below-services: src/activities/index.ts -> src/services/targets.ts',
      'workflows-type-activities: src/workflows/by-value.ts -> src/activities/index.ts',
      'services-below-api: src/services/uses-activity.ts -> src/activities/index.ts',
      'no-circular: src/contract/a.ts -> src/contract/b.ts',
      'contract-is-neutral: src/contract/reaches-up.ts -> src/services/targets.ts',
      'foundations-import-nothing-above: src/db/reaches-up.ts -> src/services/uses-activity.ts',
    ]) {
      assert.ok(found.has(expected), `${expected} (found: ${[...found].join('; ')})`);
    }
    assert.ok(![...found].some((v) => v.includes('src/workflows/by-type.ts')), 'a type-only import of the activities is allowed in workflow code');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
