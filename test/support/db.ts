/** psql / pg_dump helpers for tests, against the throwaway cluster. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { inject } from 'vitest';

function env(): NodeJS.ProcessEnv {
  const pg = inject('pg');
  return { ...process.env, PGHOST: pg.host, PGPORT: String(pg.port), PGUSER: 'postgres', PGDATABASE: 'postgres' };
}
/** A PostgreSQL program of the test cluster's installation (pg_dump, pg_restore, psql…). */
export const pgBin = (name: string) => join(inject('pg').bin, name);
const bin = pgBin;

/** Runs SQL; returns psql's unaligned, tuples-only output. Throws on any error. */
export function psql(db: string, sql: string): string {
  const r = spawnSync(bin('psql'), ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', db], { input: sql, env: env(), encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`psql ${db} failed: ${r.stderr}`);
  return r.stdout;
}

export function createDb(name: string, encoding = 'UTF8'): void {
  psql('postgres', `DROP DATABASE IF EXISTS "${name}"; CREATE DATABASE "${name}" TEMPLATE template0 ENCODING '${encoding}' LOCALE 'C';`);
}

let restrictKeySupported: boolean | undefined;
/** pg_dump output as bytes (plain, or a custom or tar archive); the \restrict key is pinned so dumps are reproducible. */
export function pgDump(db: string, args: string[] = []): Buffer {
  if (restrictKeySupported === undefined) {
    restrictKeySupported = spawnSync(bin('pg_dump'), ['--help'], { encoding: 'utf8' }).stdout.includes('--restrict-key');
  }
  // an archive has no \restrict line (pg_restore writes one): the key is for plain output only
  const archive = args.some((a) => /^(-F[cdt]|--format=[cdt])/.test(a));
  const extra = restrictKeySupported && !archive ? ['--restrict-key=testFixedRestrictKey'] : [];
  const r = spawnSync(bin('pg_dump'), [...extra, ...args, '-d', db], { env: env(), maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`pg_dump ${db} failed: ${r.stderr}`);
  return r.stdout;
}

/** The same database dumped in several forms: name → pg_dump's extra arguments. */
export function dumpForms(db: string, forms: Record<string, string[]>): Record<string, Buffer> {
  return Object.fromEntries(Object.entries(forms).map(([name, args]) => [name, pgDump(db, args)]));
}

/** Restores an archive (custom file or directory) with pg_restore --exit-on-error into a new database. */
export function pgRestore(db: string, archive: string, args: string[] = ['-j', '2']): { status: number | null; stderr: string } {
  createDb(db);
  const r = spawnSync(bin('pg_restore'), ['--exit-on-error', ...args, '-d', db, archive], { env: env(), encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

/** Restores a plain dump with psql -v ON_ERROR_STOP=1 into a new database. */
export function restore(db: string, dump: Buffer, encoding = 'UTF8'): { status: number | null; stderr: string } {
  createDb(db, encoding);
  const r = spawnSync(bin('psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', db, '-f', '-'], { input: dump, env: env(), encoding: 'utf8', maxBuffer: 1 << 30 });
  return { status: r.status, stderr: r.stderr };
}

export function pgEnv(): NodeJS.ProcessEnv {
  return env();
}
