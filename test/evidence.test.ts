/**
 * run --evidence / --sign-key and verify: the statement names the output's and the input's bytes by
 * sha256 (computed here independently), the rules files' digests, a key id that is not the key, each
 * column's rule and what it leaves; no value of the dump is in it. verify says 0 for the output as
 * written and 1 for a changed byte, a missing or added file, another key, a changed statement, or none.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { scratch } from './support/scratch.js';
import { createDb, pgEnv, psql } from './support/db.js';
import { COUNCIL, ROOT, SAMPLE, runCli, runCliText } from './support/cli.js';

const KEY = 'evidence-test-Gm4xQ9vR2pK7wN3';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let dir: string;
let sk: string;
let pk: string;
let otherPk: string;

function keyPair(name: string): [string, string] {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const s = join(dir, `${name}.pem`);
  const p = join(dir, `${name}.pub`);
  writeFileSync(s, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(p, publicKey.export({ type: 'spki', format: 'pem' }));
  return [s, p];
}
const statementOf = (file: string) => JSON.parse(Buffer.from((JSON.parse(readFileSync(file, 'utf8')) as { payload: string }).payload, 'base64').toString()) as {
  subject: { name: string; digest: { sha256: string } }[];
  predicate: Record<string, unknown> & { input: { files: { digest: { sha256: string } }[] }; rules: { file: string; sha256: string }[]; pseudonymKeyId: string; tables: { table: string; protection: string; columns?: Record<string, { rule: string; protection: string }> }[] };
};
const verify = (output: string, evidence: string, key = pk) => runCliText(['verify', '--evidence', evidence, '--key', key, output]);

beforeAll(() => {
  dir = scratch('ad-evidence-');
  [sk, pk] = keyPair('signer');
  [, otherPk] = keyPair('other');
});

describe('run --evidence --sign-key, then verify', () => {
  it('names the output, the input and the rules by sha256, says each column\'s protection, and holds no value from the dump', () => {
    const out = join(dir, 'out.sql');
    const ev = join(dir, 'ev.json');
    const r = runCli(['-q', '-r', COUNCIL, '-o', out, '--evidence', ev, '--sign-key', sk, SAMPLE], { key: KEY });
    expect(r.status, r.stderr).toBe(0);
    const st = statementOf(ev);
    expect(st.subject).toEqual([{ name: 'out.sql', digest: { sha256: sha256(readFileSync(out)) } }]);
    expect(st.predicate.input.files[0]!.digest.sha256).toBe(sha256(readFileSync(SAMPLE)));
    expect(st.predicate.rules.map((x) => x.file.replace(`${ROOT}/`, ''))).toEqual(['rules/django.yaml', 'rules/wagtail.yaml', 'rules/examples/council.yaml']);
    for (const x of st.predicate.rules) expect(x.sha256).toBe(sha256(readFileSync(x.file)));
    const users = st.predicate.tables.find((t) => t.table === 'public.users_user')!;
    expect(users.columns!.email).toEqual({ rule: 'template', protection: 'pseudonymised' });
    expect(users.columns!.password).toEqual({ rule: 'value', protection: 'removed' });
    expect(users.columns!.is_staff).toEqual({ rule: 'keep', protection: 'kept' });
    expect(st.predicate.tables.find((t) => t.table === 'public.django_session')!.protection).toBe('removed');
    // no e-mail, name or other value of the sample, and not the key
    const text = Buffer.from((JSON.parse(readFileSync(ev, 'utf8')) as { payload: string }).payload, 'base64').toString();
    const emails = [...new Set(readFileSync(SAMPLE, 'utf8').match(/[\w.+-]+@[\w-]+\.[\w.]+/g))];
    expect(emails.length).toBeGreaterThan(5);
    for (const e of emails) expect(text).not.toContain(e);
    expect(text).not.toContain(KEY);
    expect(verify(out, ev).status).toBe(0);
  });

  it('the key id tells two keys apart and is the same for the same key', () => {
    const run = (key: string, name: string) => {
      const ev = join(dir, `${name}.json`);
      expect(runCli(['-q', '-r', COUNCIL, '-o', join(dir, `${name}.sql`), '--evidence', ev, SAMPLE], { key }).status).toBe(0);
      return statementOf(ev).predicate.pseudonymKeyId;
    };
    const a = run(KEY, 'k1');
    expect(run(KEY, 'k2')).toBe(a);
    expect(run('another-key-Vb7nM2xQ8pL4zR6', 'k3')).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f]{32}$/);
  });

  it.each([
    ['a changed byte', (out: string) => appendFileSync(out, '\n'), undefined, /differs from what was signed/],
    ['another key', () => {}, 'other', /not signed by this key/],
    ['a changed statement', (_out: string, ev: string) => {
      const env = JSON.parse(readFileSync(ev, 'utf8')) as { payload: string };
      env.payload = Buffer.from(Buffer.from(env.payload, 'base64').toString().replace('"rowsIn":', '"rowsIn": ')).toString('base64');
      writeFileSync(ev, JSON.stringify(env));
    }, undefined, /signature does not match/],
  ])('verify exits 1 for %s, saying why', (name, spoil, key, reason) => {
    const out = join(dir, `spoilt-${name.replace(/\W/g, '')}.sql`);
    const ev = `${out}.json`;
    expect(runCli(['-q', '-r', COUNCIL, '-o', out, '--evidence', ev, '--sign-key', sk, SAMPLE], { key: KEY }).status).toBe(0);
    expect(verify(out, ev).status).toBe(0);
    spoil(out, ev);
    const v = verify(out, ev, key === 'other' ? otherPk : pk);
    expect(v.status).toBe(1);
    expect(v.stdout).toMatch(reason);
  });

  it('an unsigned statement does not verify; stdin is digested as read', () => {
    const out = join(dir, 'stdin.sql');
    const ev = join(dir, 'stdin.json');
    const input = readFileSync(SAMPLE);
    expect(runCli(['-q', '-r', COUNCIL, '-o', out, '--evidence', ev], { key: KEY, input }).status).toBe(0);
    expect(statementOf(ev).predicate.input.files).toEqual([{ name: 'stdin', digest: { sha256: sha256(input) } }]);
    const v = verify(out, ev);
    expect(v.status).toBe(1);
    expect(v.stdout).toMatch(/not signed/);
  });

  it.each([
    ['--evidence without -o', ['--evidence', 'EV'], /--evidence names the output by its digest: give -o FILE/],
    ['--sign-key without --evidence', ['-o', 'OUT', '--sign-key', 'SK'], /--sign-key signs the statement --evidence FILE writes/],
    ['an RSA key', ['-o', 'OUT', '--evidence', 'EV', '--sign-key', 'RSA'], /an rsa key; the evidence is signed with Ed25519/],
    ['a key file that is no key', ['-o', 'OUT', '--evidence', 'EV', '--sign-key', SAMPLE], /not a private key in PEM/],
  ])('%s: exit 2, one line, nothing written', (_name, args, message) => {
    const rsa = join(dir, 'rsa.pem');
    writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const out = join(dir, 'usage.sql');
    const ev = join(dir, 'usage.json');
    const mapped = args.map((a) => ({ EV: ev, OUT: out, SK: sk, RSA: rsa })[a] ?? a);
    const r = runCli(['-q', '-r', COUNCIL, ...mapped, SAMPLE], { key: KEY });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/BEGIN|PRIVATE/);
    for (const f of [out, ev]) expect(() => readFileSync(f)).toThrow();
  });
});

describe('verify --key that is no Ed25519 public key', () => {
  it.each([
    ['a file that is no key', () => SAMPLE, /--key \S+: not a public key in PEM/],
    ['an RSA public key', () => {
      const rsa = join(dir, 'rsa.pub');
      writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }));
      return rsa;
    }, /--key \S+: an rsa key; the evidence is signed with Ed25519/],
    ['no such file', () => join(dir, 'missing.pub'), /--key \S+: no such file/],
  ])('%s: exit 2, one line, the file not echoed', (_name, keyFile, message) => {
    const out = join(dir, 'verify-key.sql');
    const ev = join(dir, 'verify-key.json');
    expect(runCli(['-q', '-r', COUNCIL, '-o', out, '--evidence', ev, '--sign-key', sk, SAMPLE], { key: KEY }).status).toBe(0);
    const r = verify(out, ev, keyFile());
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/BEGIN|INSERT|COPY/);
  });
});

describe('run --against: the leak check of the output, its verdict in the statement', () => {
  it('no leak: exit 0 and the verdict signed; a leak: exit 1, the output written, the verdict LEAKS FOUND', () => {
    createDb('evidence_leak_src');
    psql('evidence_leak_src', readFileSync(join(ROOT, 'fixtures/sample/sample-db.sql'), 'utf8'));
    const pg = inject('pg');
    const url = `postgresql://postgres@/evidence_leak_src?host=${encodeURIComponent(pg.host)}&port=${pg.port}`;
    const out = join(dir, 'checked.sql');
    const ev = join(dir, 'checked.json');
    const clean = runCli(['-r', COUNCIL, '-o', out, '--evidence', ev, '--sign-key', sk, '--against', url, SAMPLE], { key: KEY });
    expect(clean.status, clean.stderr).toBe(0);
    expect(clean.stderr).toMatch(/leak check of the output: no leak found/);
    const verdict = statementOf(ev).predicate.leakCheck as { verdict: string; valuesChecked: number; columnsChecked: number; columnsLeaking: number };
    expect(verdict).toMatchObject({ verdict: 'no leak found', columnsLeaking: 0 });
    expect(verdict.valuesChecked).toBeGreaterThan(100);
    expect(verify(out, ev).status).toBe(0);
    // the same rules but one rewritten column kept: its originals are in the output
    const leaky = join(dir, 'leaky');
    writeFileSync(`${leaky}.yaml`, `version: 1\nextends: [${JSON.stringify(COUNCIL)}]\ntables:\n  public.users_user:\n    columns:\n      email: keep\n`);
    const r = runCli(['-q', '-r', `${leaky}.yaml`, '-o', `${leaky}.sql`, '--evidence', `${leaky}.json`, '--against', url, SAMPLE], { key: KEY });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/leak check of the output: LEAKS FOUND/);
    expect((statementOf(`${leaky}.json`).predicate.leakCheck as { verdict: string }).verdict).toBe('LEAKS FOUND');
  });

  it('--against without a local -o: exit 2', () => {
    const r = runCli(['-q', '-r', COUNCIL, '--against', 'postgresql:///x', SAMPLE], { key: KEY });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--against runs the leak check on the output once written: give -o FILE/);
  });
});

describe('forget --evidence', () => {
  it('names the outputs and inputs by sha256, counts what each request matched by table and column, never the person\'s values', () => {
    const email = 'isla.obrien2@btinternet.com';
    const out = join(dir, 'forgotten.sql');
    const ev = join(dir, 'forgotten.json');
    const r = runCli(['forget', '-q', '--cascade', '-r', COUNCIL, SAMPLE, '--where', `public.users_user.email=${email}`, '-o', out, '--evidence', ev, '--sign-key', sk], { key: KEY });
    expect(r.status, r.stderr).toBe(0);
    // every rules file read, presets included, as a run's statement names them
    const read = (statementOf(ev) as unknown as { predicate: { rules: { file: string; sha256: string }[] } }).predicate.rules;
    expect(read.map((x) => x.file.replace(`${ROOT}/`, ''))).toEqual(['rules/django.yaml', 'rules/wagtail.yaml', 'rules/examples/council.yaml']);
    for (const x of read) expect(x.sha256).toBe(sha256(readFileSync(x.file)));
    const st = statementOf(ev) as unknown as { subject: { name: string; digest: { sha256: string } }[]; predicate: { inputs: { digest: { sha256: string } }[]; dumps: { requests: unknown[]; rowsMatched: number }[] } };
    expect(st.subject).toEqual([{ name: 'forgotten.sql', digest: { sha256: sha256(readFileSync(out)) } }]);
    expect(st.predicate.inputs[0]!.digest.sha256).toBe(sha256(readFileSync(SAMPLE)));
    expect(st.predicate.dumps[0]!.requests).toEqual([{ table: 'public.users_user', column: 'email', rowsMatched: 1 }]);
    const text = readFileSync(ev, 'utf8') + Buffer.from((JSON.parse(readFileSync(ev, 'utf8')) as { payload: string }).payload, 'base64').toString();
    for (const v of [email, 'Isla', "O'Brien", 'obrien']) expect(text).not.toContain(v);
    expect(verify(out, ev).status).toBe(0);
    appendFileSync(out, '-- \n');
    expect(verify(out, ev).status).toBe(1);
  });

  it('several dumps into -o DIR: one statement naming every output, verified against the directory', () => {
    const copy = join(dir, 'copy-of-sample.sql');
    writeFileSync(copy, readFileSync(SAMPLE));
    const outDir = join(dir, 'forgotten-many');
    spawnSync('mkdir', [outDir]);
    const ev = join(dir, 'forgotten-many.json');
    const r = runCli(['forget', '-q', '--cascade', SAMPLE, copy, '--where', 'public.users_user.id=2', '-o', outDir, '--evidence', ev, '--sign-key', sk], { key: KEY });
    expect(r.status, r.stderr).toBe(0);
    expect(statementOf(ev).subject.map((x) => x.name)).toEqual(['sample.sql', 'copy-of-sample.sql']);
    expect(verify(outDir, ev).status).toBe(0);
  });

  it('two directory archives into -o DIR: their files named under each archive, inputs as outputs, none alike', () => {
    createDb('evidence_forget_dirs');
    psql('evidence_forget_dirs', readFileSync(join(ROOT, 'fixtures/sample/sample-db.sql'), 'utf8'));
    const a = join(dir, 'forget-a.dir');
    const b = join(dir, 'forget-b.dir');
    for (const d of [a, b]) expect(spawnSync(join(inject('pg').bin, 'pg_dump'), ['-Fd', '-f', d, '-d', 'evidence_forget_dirs'], { env: pgEnv() }).status).toBe(0);
    const outDir = join(dir, 'forgotten-dirs');
    spawnSync('mkdir', [outDir]);
    const ev = join(dir, 'forgotten-dirs.json');
    const r = runCli(['forget', '-q', '--cascade', a, b, '--where', 'public.users_user.id=2', '-o', outDir, '--evidence', ev, '--sign-key', sk], { key: KEY });
    expect(r.status, r.stderr).toBe(0);
    const st = statementOf(ev) as unknown as { subject: { name: string }[]; predicate: { inputs: { name: string; digest: { sha256: string } }[] } };
    const names = st.predicate.inputs.map((x) => x.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain('forget-a.dir/toc.dat');
    expect(names).toContain('forget-b.dir/toc.dat');
    for (const x of st.predicate.inputs) expect(x.digest.sha256).toBe(sha256(readFileSync(join(dir, x.name))));
    expect(verify(outDir, ev).status).toBe(0);
  });
});

describe('--evidence on a directory archive', () => {
  it('names every file of the archive; a changed, removed or added file does not verify', () => {
    createDb('evidence_src');
    psql('evidence_src', readFileSync(join(ROOT, 'fixtures/sample/sample-db.sql'), 'utf8'));
    const src = join(dir, 'src.dir');
    const d = spawnSync(join(inject('pg').bin, 'pg_dump'), ['-Fd', '-f', src, '-d', 'evidence_src'], { env: pgEnv() });
    expect(d.status).toBe(0);
    const out = join(dir, 'out.dir');
    const ev = join(dir, 'dir.json');
    const r = runCli(['-q', '-r', COUNCIL, '-o', out, '--evidence', ev, '--sign-key', sk, src], { key: KEY });
    expect(r.status, r.stderr).toBe(0);
    const st = statementOf(ev);
    const files = readdirSync(out).sort();
    expect(st.subject.map((s) => s.name)).toEqual(files);
    for (const s of st.subject) expect(s.digest.sha256).toBe(sha256(readFileSync(join(out, s.name))));
    expect(st.predicate.input.files.map((f) => f.digest.sha256)).toEqual(readdirSync(src).sort().map((f) => sha256(readFileSync(join(src, f)))));
    expect(verify(out, ev).status).toBe(0);
    writeFileSync(join(out, 'extra.dat'), 'x');
    expect(verify(out, ev).stdout).toMatch(/the output has \d+ file\(s\), the statement names \d+/);
    expect(verify(out, ev).status).toBe(1);
    rmSync(join(out, 'extra.dat'));
    const data = files.find((f) => f.endsWith('.dat.gz'))!;
    const keep = readFileSync(join(out, data));
    rmSync(join(out, data));
    expect(verify(out, ev).status).toBe(1);
    writeFileSync(join(out, data), keep);
    expect(verify(out, ev).status).toBe(0);
  });
});
