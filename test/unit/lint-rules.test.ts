import assert from 'node:assert/strict';
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
  for (const source of ['@temporalio/workflow', '@temporalio/common', './types', './httpsync-state', '../text/format', '../text/markdown']) {
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
