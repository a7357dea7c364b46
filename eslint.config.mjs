// `npm run lint` (part of `npm run check`): type-aware promise rules everywhere, and the workflow
// sandbox's rule that workflow files import no Node built-ins and nothing that does I/O.
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

const nodeBuiltins = builtinModules.filter((m) => !m.startsWith('_'));

export default tseslint.config(
  { ignores: ['dist/**', '.dist-build-*/**', 'node_modules/**', '.hooksync/**', 'bench-results/**', 'test-results/**', '**/*.js', '**/*.mjs'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test collects the promises of test() and describe() itself.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox and is replayed for months: pure
    // modules only. Activities, the database and HTTP are reached through proxyActivities.
    files: ['src/workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({ name, message: 'no Node built-ins in workflow code' })),
          ],
          patterns: [
            { regex: '^node:', message: 'no Node built-ins in workflow code' },
            {
              // pg, undici, koa, pino, …: I/O belongs in activities.
              regex: `^(?!\\.|node:|@temporalio/(workflow|common)(/|$)|(${nodeBuiltins.join('|')})(/|$))`,
              message: 'workflow code imports only @temporalio/workflow, @temporalio/common and pure local modules',
              allowTypeImports: true,
            },
            {
              // src/text/ (formatting) and src/contract/ (messages, ids, shapes) are pure; the rest of src/ does I/O.
              regex: '^\\.\\./(?!text/|contract/)',
              message: 'workflow code does no I/O: call an activity (its type may be imported)',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
);
