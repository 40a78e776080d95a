/**
 * The real pg_dump 18.3 (PGlite's WASM build, @electric-sql/pglite-tools), handing back the bytes it
 * wrote. pglite-tools reads pg_dump's output file back as UTF-8 text, which cuts a binary archive at
 * its first NUL byte (a custom archive comes back as its 7-byte magic), and strips `\restrict` lines
 * from it. So the tests load a copy of its module with those two steps changed to return the file's
 * bytes as they are; pg_dump itself, its options and its output are untouched. If a new pglite-tools
 * changes either step, this throws instead of testing something else.
 * pglite-tools always adds `--inserts`: data entries are INSERT statements, in plain dumps and archives.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { scratch } from './scratch.js';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PGlite } from '@electric-sql/pglite';

type Dump = (o: { pg: PGlite; args?: string[] }) => Promise<File>;

let loaded: Promise<Dump> | null = null;

function load(): Promise<Dump> {
  const require = createRequire(import.meta.url);
  // the package's CommonJS entry sits beside its ES module chunks and the WASM binary
  const dist = dirname(require.resolve('@electric-sql/pglite-tools/pg_dump'));
  const entry = readFileSync(join(dist, 'pg_dump.js'), 'utf8');
  const chunk = /from\s*"\.\/(chunk-[\w-]+\.js)"/.exec(entry)?.[1];
  if (!chunk) throw new Error('pglite-tools: its pg_dump entry no longer names a chunk module');
  let code = readFileSync(join(dist, chunk), 'utf8');
  const patches: [RegExp, string][] = [
    [/(\.FS\.readFile\(\w+,\{encoding:)"utf8"(\}\))/, '$1"binary"$2'],
    [/(let (\w+)=\w+\.fileContents)\.replace\([^;]*?,""\);/, '$1;'],
  ];
  for (const [from, to] of patches) {
    if (!from.test(code)) throw new Error(`pglite-tools changed: ${from} not found in ${chunk}`);
    code = code.replace(from, to);
  }
  // its source map stays behind: the copy does not name it
  code = code.replace(/^\/\/# sourceMappingURL=.*$/m, '');
  const dir = scratch('ad-pg18-dump-');
  writeFileSync(join(dir, 'pg_dump.mjs'), code);
  copyFileSync(join(dist, 'pg_dump.wasm'), join(dir, 'pg_dump.wasm'));
  return import(pathToFileURL(join(dir, 'pg_dump.mjs')).href).then((m: { a: Dump }) => m.a);
}

/** pg_dump 18 of `pg` with `args` (e.g. `-Fc`), as the bytes pg_dump wrote. */
export async function pgDump18(pg: PGlite, args: string[] = []): Promise<Buffer> {
  loaded ??= load();
  const dump = await loaded;
  const file = await dump({ pg, args });
  return Buffer.from(await file.arrayBuffer());
}

/** A plain dump's text as PGlite can run it: without psql's `\restrict` / `\unrestrict` lines (pg_dump 18.1+). */
export function withoutMetaCommands(sql: string): string {
  return sql.replace(/^\\(?:un)?restrict\b.*\r?\n?/gm, '');
}
