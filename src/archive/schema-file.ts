/** A --data-only dump's schema, from a `pg_dump --schema-only` of the same database (`--schema FILE`). */
import { AnonymiseError } from '../errors.js';
import { DumpRewriter } from '../dump/rewriter.js';
import type { SchemaModel } from '../dump/schema-model.js';
import { CompiledRules } from '../rules/rule-compiler.js';
import { plainDump } from '../io/input.js';
import { openPath, plainBytes } from './open.js';

/**
 * `--schema FILE`: the schema a --data-only dump leaves out, read from a `pg_dump --schema-only` of the
 * same database (plain, gzip or an archive), so that its rows are read with their columns and types.
 */
export async function readSchemaFile(path: string): Promise<SchemaModel> {
  const src = await openPath(path);
  const rw = new DumpRewriter({ rules: CompiledRules.passthrough() }, () => {});
  for await (const chunk of plainDump(plainBytes(src, { everything: true }) as AsyncIterable<Buffer>)) rw.write(chunk);
  rw.end();
  if (rw.database !== null) throw new AnonymiseError('USAGE', `--schema ${path} is a pg_dumpall dump: give a pg_dump --schema-only of the one database`);
  if (rw.schema.tables.size === 0) throw new AnonymiseError('USAGE', `--schema ${path} defines no table: give a pg_dump --schema-only of the same database`);
  return rw.schema;
}

