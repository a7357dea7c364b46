// `npm run check`: imports point down (docs/design.md, "The map"), and no file of src/ reaches
// itself again through its imports, type-only imports included. dependency-cruiser reads every
// kind of import: static, `import type`, `export … from`, `import()` and `require()`.
const layer = (name, from, forbidden, comment) => ({
  name,
  comment,
  severity: 'error',
  from: { path: from },
  to: { path: forbidden },
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import circle in src/ (types included): one of its modules belongs below the others.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    layer(
      'contract-is-neutral',
      '^src/contract/',
      '^src/(?!contract/|text/)',
      'src/contract/ is what every layer shares: it imports only itself and src/text/.',
    ),
    {
      name: 'contract-is-deterministic',
      comment: 'The workflow bundle imports src/contract/: no Node built-ins, no package but the workflow SDK.',
      severity: 'error',
      from: { path: '^src/contract/' },
      to: { dependencyTypes: ['core', 'npm', 'npm-dev', 'npm-no-pkg', 'npm-unknown'], pathNot: '^node_modules/@temporalio/(workflow|common)/' },
    },
    layer(
      'workflows-are-workflow-code',
      '^src/workflows/',
      '^src/(?!workflows/|contract/|text/|activities/)',
      'Workflow code imports only workflow code, src/contract/ and src/text/ (I/O is reached through activities).',
    ),
    {
      name: 'workflows-type-activities',
      comment: 'Workflows know the activities by their type only (proxyActivities).',
      severity: 'error',
      from: { path: '^src/workflows/' },
      to: { path: '^src/activities/', dependencyTypesNot: ['type-only'] },
    },
    layer(
      'activities-below-services',
      '^src/activities/',
      '^src/(services|api|worker|workflows)/|^src/processes\\.ts$',
      'Activities never import the service layer, the API, the worker host or workflow code (shared things live in src/contract/).',
    ),
    layer(
      'services-below-api',
      '^src/services/',
      '^src/(activities|api|worker|workflows)/|^src/processes\\.ts$',
      'The service layer never imports activities, the API, the worker host or workflow code.',
    ),
    layer(
      'api-above-services',
      '^src/api/',
      '^src/(activities|worker|workflows)/|^src/processes\\.ts$',
      'The API reaches Temporal and PostgreSQL through the service layer and src/temporal/, never through activities or workflow code.',
    ),
    layer(
      'temporal-is-client-plumbing',
      '^src/temporal/',
      '^src/(activities|services|api|worker|workflows)/|^src/processes\\.ts$',
      'src/temporal/ starts and signals workflows by name (src/contract/): it imports no workflow code and nothing above it.',
    ),
    layer(
      'foundations-import-nothing-above',
      '^src/(db|http|delivery|secrets|integrations|text|dev)/|^src/(config|log|metrics|metrics-server|package-info|ports)\\.ts$',
      '^src/(activities|services|api|worker|workflows|temporal)/|^src/processes\\.ts$',
      'The foundations (database, HTTP client, secrets, integrations, …) import nothing above them.',
    ),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^(src|node_modules)/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
