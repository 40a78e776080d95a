/**
 * import() of what a run loads only when it needs it: faker's locales, the S3 client, pg, a rules
 * file's transformers. Every such import goes through here because the one-file build
 * (scripts/bundle.mjs) puts bin/load-cli.cjs's own import() in this function's place: a script
 * compiled from V8's code cache has lost its import() callback, and would fail at the first import.
 */
export function loadModule<T>(specifier: string): Promise<T> {
  return import(specifier) as Promise<T>;
}
