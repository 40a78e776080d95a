/** pg_dumpall output: several databases, `\connect` between them, rules scoped by database. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { compileRules, readRules, rewriteBuffer } from '../src/engine/run.js';
import { AnonymiseError } from '../src/errors.js';
import { createDb, pgEnv, psql } from './support/db.js';

describe('a pg_dumpall dump', () => {
  let all: Buffer;
  beforeAll(() => {
    createDb('shop');
    createDb('blog x');
    psql('shop', "CREATE TABLE customer (id int PRIMARY KEY, email text); INSERT INTO customer VALUES (1, 'shop.person@gmail.com');");
    psql('blog x', "CREATE TABLE customer (id int PRIMARY KEY, email text); INSERT INTO customer VALUES (1, 'blog.person@gmail.com'); CREATE TABLE post (id int, body text); INSERT INTO post VALUES (1, 'hello');");
    // the cluster is shared with the other test files: their databases are left out of this dump
    const others = psql('postgres', "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname NOT IN ('postgres', 'shop', 'blog x')").split('\n').filter(Boolean);
    const exclude = others.map((d) => `--exclude-database="${d.replace(/"/g, '""')}"`);
    const r = spawnSync(join(inject('pg').bin, 'pg_dumpall'), ['--no-role-passwords', ...exclude], { env: pgEnv(), maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(r.stderr.toString());
    all = r.stdout;
  });

  const rules = async (yaml: string) => compileRules(await readRules({ text: [{ name: 'all.yaml', yaml }] }), 'dumpall');

  it('applies each database its own rules', async () => {
    const r = await rules(`version: 1
unknown: keep
tables:
  customer: { columns: { id: keep, email: { fake: internet.email, unique: true } } }
databases:
  blog x:
    unknown: fail
    tables:
      customer: drop
      post: keep
`);
    const { output, result } = rewriteBuffer(all, { rules: r });
    const text = output.toString();
    expect(text).not.toContain('shop.person@gmail.com');
    expect(text).not.toContain('blog.person@gmail.com');
    expect(text).toMatch(/COPY public\.customer \(id, email\) FROM stdin;\n1\t[a-z0-9.]+@example\.(com|org|net)\n\\\.\n/);
    expect(text).toContain('COPY public.customer (id, email) FROM stdin;\n\\.\n');
    expect(result.tables.find((t) => t.table === 'blog x/public.customer')).toMatchObject({ mode: 'drop', rowsDropped: 1 });
    expect(result.tables.find((t) => t.table === 'shop/public.customer')).toMatchObject({ mode: 'rewrite', rowsOut: 1 });
  });

  it("checks each database's schema before its own data", async () => {
    const r = await rules('version: 1\nunknown: keep\ndatabases:\n  blog x:\n    unknown: fail\n    tables:\n      customer: drop\n');
    let error: unknown;
    try {
      rewriteBuffer(all, { rules: r });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AnonymiseError);
    expect((error as AnonymiseError).message).toMatch(/table public\.post: 1 table is not classified/);
  });
});
