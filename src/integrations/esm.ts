/**
 * `import()` that stays one: this project compiles to CommonJS, where TypeScript would turn a
 * dynamic import into `require()`, which an ESM-only package (e.g. `@octokit/webhooks-methods`)
 * does not support on every Node version we run on.
 */
const importModule = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

/** Loads an ESM-only package once; later calls share the same promise. */
export function esmLoader<T>(specifier: string): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    loading ??= importModule(specifier).then((m) => m as T);
    // A failed load is tried again next time rather than remembered.
    loading.catch(() => (loading = undefined));
    return loading;
  };
}
