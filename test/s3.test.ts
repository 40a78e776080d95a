/**
 * Object storage as input and output, against a real S3-compatible server (s3rver) the test starts on
 * 127.0.0.1, with the SDK's own environment variables (AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID…): plain,
 * gzip, custom and directory archives in and out; every output equals the same run on local files, byte
 * for byte, and restores; a failed run leaves no object (and an older one under the key as it was); a
 * missing object and bad credentials get one line each, with no secret in it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import S3rver from 's3rver';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { scratch } from './support/scratch.js';
import { createDb, pgBin, pgEnv, pgRestore, psql, restore } from './support/db.js';
import { BIN, ROOT, runCli, runCliAsync } from './support/cli.js';
import { parse, parseAllDocuments } from 'yaml';

const KEY = 's3-test-key-Zq8mW3pL5vX2nR7t';
const SECRET = 'S3RVER';
const BUCKET = 'dumps';
const RULES = 'version: 1\ntables:\n  public.person:\n    columns:\n      "*": keep\n      email: { fake: internet.email, unique: true }\n      full_name: { fake: person.fullName }\n';

let server: S3rver;
let endpoint: string;
let s3: S3Client;
let dir: string;
let rules: string;

const s3env = (over: Record<string, string> = {}) => ({ AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: SECRET, AWS_ENDPOINT_URL_S3: endpoint, ...over });
const cli = (args: string[], env: Record<string, string> = {}) =>
  runCliAsync(['scan', 'check', 'plan', 'assemble'].includes(args[0]!) ? args : ['-q', ...args], { key: KEY, env: { ...s3env(env), HOME: dir } });

async function put(key: string, body: Buffer): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
}
async function get(key: string): Promise<Buffer> {
  const r = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}
async function exists(key: string): Promise<boolean> {
  return s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })).then(() => true, () => false);
}
async function keysUnder(prefix: string, bucket = prefix.startsWith('nightly/') ? 'staging-dumps' : BUCKET): Promise<string[]> {
  const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (r.Contents ?? []).map((o) => o.Key!).sort();
}

function pgDumpTo(args: string[]): Buffer {
  const r = spawnSync(pgBin('pg_dump'), [...args, '-d', 's3_src'], { env: pgEnv(), maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(r.stderr.toString());
  return r.stdout;
}

beforeAll(async () => {
  dir = scratch('ad-s3-');
  server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: join(dir, 'store') });
  const { port } = await server.run();
  endpoint = `http://127.0.0.1:${port}`;
  s3 = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: SECRET } });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  rules = join(dir, 'rules.yaml');
  writeFileSync(rules, RULES);
  // ~20 MB of rows: several ranged reads in and several parts out
  createDb('s3_src');
  psql('s3_src', `CREATE TABLE person (id int PRIMARY KEY, email text UNIQUE NOT NULL, full_name text, notes text);
    INSERT INTO person SELECT g, 'person' || g || '@gmail.com', 'Olivia Smith ' || g, repeat('a note about nothing ', 3) FROM generate_series(1, 200000) g;`);
  writeFileSync(join(dir, 'src.sql'), pgDumpTo([]));
}, 120_000);

afterAll(async () => {
  await server?.close();
});

describe('s3:// input and output', () => {
  it('a plain dump read in ranges and written by multipart upload equals the run on local files, and restores', async () => {
    const plain = readFileSync(join(dir, 'src.sql'));
    expect(plain.length).toBeGreaterThan(17 << 20);
    await put('prod/src.sql', plain);
    const local = await cli(['-r', rules, '-o', join(dir, 'local.sql'), join(dir, 'src.sql')]);
    expect(local.status, local.stderr).toBe(0);
    const remote = await cli(['-r', rules, '-o', `s3://${BUCKET}/safe/out.sql`, `s3://${BUCKET}/prod/src.sql`]);
    expect(remote.status, remote.stderr).toBe(0);
    const out = await get('safe/out.sql');
    expect(out.equals(readFileSync(join(dir, 'local.sql')))).toBe(true);
    expect(out.includes('@gmail.com')).toBe(false);
    expect(restore('s3_out_plain', out).status).toBe(0);
    expect(psql('s3_out_plain', 'SELECT count(*) FROM person').trim()).toBe('200000');
  }, 120_000);

  it('gzip in, gzip out (--gzip to a .gz key): the same rows as the plain run', async () => {
    const gz = spawnSync('gzip', ['-c', join(dir, 'src.sql')], { maxBuffer: 1 << 30 }).stdout;
    await put('prod/src.sql.gz', gz);
    const r = await cli(['-r', rules, '--gzip', '-o', `s3://${BUCKET}/safe/out.sql.gz`, `s3://${BUCKET}/prod/src.sql.gz`]);
    expect(r.status, r.stderr).toBe(0);
    expect(gunzipSync(await get('safe/out.sql.gz')).equals(readFileSync(join(dir, 'local.sql')))).toBe(true);
    // a .gz key without --gzip is refused before anything is put, as a .gz file is
    const plainUnderGz = await cli(['-r', rules, '-o', `s3://${BUCKET}/safe/wrong.sql.gz`, `s3://${BUCKET}/prod/src.sql.gz`]);
    expect(plainUnderGz.status).toBe(2);
    expect(await exists('safe/wrong.sql.gz')).toBe(false);
  }, 120_000);

  it('a custom archive in and out equals the run to stdout, and pg_restore --exit-on-error restores it', async () => {
    const fc = pgDumpTo(['-Fc']);
    writeFileSync(join(dir, 'src.dump'), fc);
    await put('prod/src.dump', fc);
    const local = runCli(['-q', '-r', rules, join(dir, 'src.dump')], { key: KEY });
    expect(local.status, local.stderr).toBe(0);
    const r = await cli(['-r', rules, '-o', `s3://${BUCKET}/safe/out.dump`, `s3://${BUCKET}/prod/src.dump`]);
    expect(r.status, r.stderr).toBe(0);
    const out = await get('safe/out.dump');
    expect(out.equals(local.stdout)).toBe(true);
    writeFileSync(join(dir, 'out.dump'), out);
    const restored = pgRestore('s3_out_custom', join(dir, 'out.dump'), []);
    expect(restored.status, restored.stderr).toBe(0);
    expect(psql('s3_out_custom', "SELECT count(*) FROM person WHERE email LIKE '%@gmail.com'").trim()).toBe('0');
  }, 120_000);

  it('a directory archive under a prefix, in and out, equals the local run file by file and restores', async () => {
    const src = join(dir, 'src.dir');
    const d = spawnSync(pgBin('pg_dump'), ['-Fd', '-f', src, '-d', 's3_src'], { env: pgEnv() });
    expect(d.status).toBe(0);
    for (const f of readdirSync(src)) await put(`prod/dir/${f}`, readFileSync(join(src, f)));
    const local = await cli(['-r', rules, '-o', join(dir, 'local.dir'), src]);
    expect(local.status, local.stderr).toBe(0);
    const r = await cli(['-r', rules, '-o', `s3://${BUCKET}/safe/dir`, `s3://${BUCKET}/prod/dir`]);
    expect(r.status, r.stderr).toBe(0);
    const names = readdirSync(join(dir, 'local.dir')).sort();
    expect(await keysUnder('safe/dir/')).toEqual(names.map((n) => `safe/dir/${n}`));
    const fetched = join(dir, 'fetched.dir');
    mkdirSync(fetched);
    for (const n of names) {
      const bytes = await get(`safe/dir/${n}`);
      expect(bytes.equals(readFileSync(join(dir, 'local.dir', n))), n).toBe(true);
      writeFileSync(join(fetched, n), bytes);
    }
    const restored = pgRestore('s3_out_dir', fetched);
    expect(restored.status, restored.stderr).toBe(0);
    expect(psql('s3_out_dir', 'SELECT count(*) FROM person').trim()).toBe('200000');
  }, 120_000);

  it('a run that fails part-way aborts the upload: no object, and an older object under the key stays as it was', async () => {
    // the dump is cut in the middle of the rows, after several parts have gone up
    const plain = readFileSync(join(dir, 'src.sql'));
    const cut = plain.subarray(0, plain.indexOf('\\.\n', plain.length >> 1) - 1000);
    await put('prod/cut.sql', cut);
    const fresh = await cli(['-r', rules, '-o', `s3://${BUCKET}/safe/cut.sql`, `s3://${BUCKET}/prod/cut.sql`]);
    expect(fresh.status).toBe(3);
    expect(fresh.stderr.trim().split('\n')).toHaveLength(1);
    expect(await exists('safe/cut.sql')).toBe(false);
    await put('safe/older.sql', Buffer.from('-- yesterday\n'));
    const over = await cli(['-r', rules, '-o', `s3://${BUCKET}/safe/older.sql`, `s3://${BUCKET}/prod/cut.sql`]);
    expect(over.status).toBe(3);
    expect((await get('safe/older.sql')).toString()).toBe('-- yesterday\n');
    // -o naming the input object itself is refused before anything is read or written
    const self = await cli(['-r', rules, '-o', `s3://${BUCKET}/prod/cut.sql`, `s3://${BUCKET}/prod/cut.sql`]);
    expect(self.status).toBe(2);
    expect(self.stderr).toMatch(/is the input: it would be replaced/);
    expect((await get('prod/cut.sql')).equals(cut)).toBe(true);
  }, 120_000);

  it('--evidence with an s3:// output names the object as written (digested on the way up); verify passes on a downloaded copy', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const sk = join(dir, 'ev.pem');
    const pk = join(dir, 'ev.pub');
    writeFileSync(sk, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(pk, publicKey.export({ type: 'spki', format: 'pem' }));
    const r = await cli(['-r', rules, '-o', `s3://${BUCKET}/signed/safe.sql`, '--evidence', join(dir, 'ev.json'), '--sign-key', sk, join(dir, 'src.sql')]);
    expect(r.status, r.stderr).toBe(0);
    writeFileSync(join(dir, 'safe.sql'), await get('signed/safe.sql'));
    expect(runCli(['verify', '--evidence', join(dir, 'ev.json'), '--key', pk, join(dir, 'safe.sql')]).status).toBe(0);
    // a directory archive under a prefix: each file by its name under it
    const d = await cli(['-r', rules, '-o', `s3://${BUCKET}/signed/dir`, '--evidence', join(dir, 'ev-dir.json'), '--sign-key', sk, join(dir, 'src.dir')]);
    expect(d.status, d.stderr).toBe(0);
    const fetched = join(dir, 'signed-dir');
    mkdirSync(fetched);
    for (const key of await keysUnder('signed/dir/')) writeFileSync(join(fetched, key.slice('signed/dir/'.length)), await get(key));
    expect(runCli(['verify', '--evidence', join(dir, 'ev-dir.json'), '--key', pk, fetched]).status).toBe(0);
    writeFileSync(join(fetched, 'toc.dat'), Buffer.concat([readFileSync(join(fetched, 'toc.dat')), Buffer.from('x')]));
    expect(runCli(['verify', '--evidence', join(dir, 'ev-dir.json'), '--key', pk, fetched]).status).toBe(1);
  }, 120_000);

  it('a run interrupted by SIGTERM aborts its upload: exit 143, no object', async () => {
    const plain = readFileSync(join(dir, 'src.sql'));
    const env = { PATH: process.env.PATH, ANONYMISE_DUMP_SECRET: KEY, ...s3env() };
    const child = spawn(process.execPath, [BIN, '-q', '-r', rules, '-o', `s3://${BUCKET}/safe/interrupted.sql`], { env, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    // more than a part's worth in, then the input stalls (pg_dump still running) and the job is stopped
    await new Promise<void>((resolve) => child.stdin.write(plain.subarray(0, 12 << 20), () => resolve()));
    await new Promise((r) => setTimeout(r, 500));
    child.kill('SIGTERM');
    expect(await closed).toBe(143);
    expect(stderr).toMatch(/interrupted by SIGTERM; no output file written/);
    child.stdin.destroy();
    expect(await exists('safe/interrupted.sql')).toBe(false);
  }, 60_000);

  it.each([
    ['a missing object', [`s3://${BUCKET}/prod/none.sql`], {}, /s3:\/\/dumps\/prod\/none\.sql: no such object/],
    ['a missing bucket', ['s3://no-such-bucket/x.sql'], {}, /no-such-bucket.*cannot (read|list).*(no such bucket|NoSuchBucket)/],
    ['an unknown access key', [`s3://${BUCKET}/prod/src.sql`], { AWS_ACCESS_KEY_ID: 'NOBODY', AWS_SECRET_ACCESS_KEY: 'wrong-secret-Xy7' }, /cannot read \(\w+ 403\): access denied/],
    ['an address with no key', ['s3://dumps'], {}, /not an object address: write s3:\/\/BUCKET\/KEY/],
  ])('%s: one line, exit 2 or 3, no secret in it', async (_name, args, env, message) => {
    const r = await cli(['-r', rules, ...args], env as Record<string, string>);
    expect([2, 3]).toContain(r.status);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/wrong-secret|S3RVER/);
    expect(r.stdout.length).toBe(0);
  }, 60_000);

  it('scan and check read an s3:// input as they read a file', async () => {
    const scan = await cli(['scan', `s3://${BUCKET}/safe/out.sql`]);
    const local = runCli(['scan', join(dir, 'local.sql')]);
    expect(scan.status).toBe(local.status);
    expect(scan.stdout.equals(local.stdout)).toBe(true);
    const check = await cli(['check', '-r', rules, `s3://${BUCKET}/prod/src.dump`]);
    expect(check.status, check.stderr).toBe(0);
  }, 60_000);

  it('find and forget, which read a dump several times, ask for a local copy', async () => {
    for (const args of [['find'], ['forget', '-o', join(dir, 'forgotten.sql')]]) {
      const r = await runCliAsync([...args, `s3://${BUCKET}/prod/src.sql`, '--where', 'public.person.id=1'], { key: KEY, env: s3env() });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/reads the dump two or more times.*download it first/);
    }
  }, 60_000);
});

describe('the Kubernetes CronJob example (examples/kubernetes/cronjob.yaml)', () => {
  type Container = { name: string; command: string[]; env: { name: string; value?: string }[] };
  const job = parse(readFileSync(join(ROOT, 'examples/kubernetes/cronjob.yaml'), 'utf8')) as {
    spec: { jobTemplate: { spec: { template: { spec: { initContainers: Container[]; containers: Container[] } } } } };
  };
  const pod = job.spec.jobTemplate.spec.template.spec;

  it('run as written (its containers as processes, the FIFO in a temporary directory): the anonymised dump lands in the bucket and restores', async () => {
    const shims = join(dir, 'k8s-bin');
    mkdirSync(shims);
    writeFileSync(join(shims, 'anonymise-dump'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
    chmodSync(join(shims, 'anonymise-dump'), 0o755);
    const pg = inject('pg');
    // what the cluster would give each container: its own env (values only; secrets from here), the pod's volumes as paths
    const local: Record<string, string> = {
      DUMP_FIFO: join(dir, 'pipe-dump.sql'), RULES: rules, PGHOST: pg.host, PGPORT: String(pg.port), PGUSER: 'postgres', PGDATABASE: 's3_src', BUCKET,
      ANONYMISE_DUMP_SECRET: KEY, ...s3env(),
    };
    const envOf = (c: Container) => ({
      PATH: `${shims}:${pg.bin}:${process.env.PATH}`,
      ...Object.fromEntries(c.env.map((e) => [e.name, local[e.name] ?? e.value ?? ''])),
      // the test cluster's port (the example's server listens on the default one)
      ...(c.name === 'pg-dump' ? { PGPORT: String(pg.port) } : {}),
      ...(c.name === 'anonymise' ? { ANONYMISE_DUMP_SECRET: KEY, ...s3env() } : {}),
    });
    const start = (c: Container) =>
      new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const p = spawn(c.command[0]!, c.command.slice(1), { env: envOf(c), stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        p.on('close', (status) => resolve({ status, stderr }));
      });
    for (const c of pod.initContainers) expect((await start(c)).status).toBe(0);
    const [dump, anonymise] = await Promise.all(pod.containers.map(start));
    expect(dump!.status, dump!.stderr).toBe(0);
    expect(anonymise!.status, anonymise!.stderr).toBe(0);
    const today = spawnSync('date', ['+%F'], { encoding: 'utf8' }).stdout.trim();
    const sql = gunzipSync(await get(`nightly/${today}.sql.gz`));
    expect(sql.includes('@gmail.com')).toBe(false);
    expect(restore('s3_k8s_out', sql).status).toBe(0);
    expect(psql('s3_k8s_out', 'SELECT count(*) FROM person').trim()).toBe('200000');
  }, 120_000);
});

describe('the sharded Kubernetes example (examples/kubernetes/sharded-job.yaml)', () => {
  it('plan to s3, each pod\'s args as written (its index in place), assemble from the parts in s3: the one-machine archive', async () => {
    type Job = { spec: { completions?: number; template: { spec: { containers: { args: string[] }[] } } } };
    const [job, assembleJob] = parseAllDocuments(readFileSync(join(ROOT, 'examples/kubernetes/sharded-job.yaml'), 'utf8')).map((d) => d.toJS() as Job);
    const args = job!.spec.template.spec.containers[0]!.args;
    for (const b of ['prod-dumps', 'staging-dumps']) await s3.send(new CreateBucketCommand({ Bucket: b }));
    const archive = join(dir, 'k8s-src.dump');
    writeFileSync(archive, pgDumpTo(['-Fc']));
    await s3.send(new PutObjectCommand({ Bucket: 'prod-dumps', Key: 'nightly/app.dump', Body: readFileSync(archive) }));
    // as many shards as the example's Job runs
    const shards = job!.spec.completions!;
    const plan = await cli(['plan', '-r', rules, '--shards', String(shards), '-o', 's3://staging-dumps/nightly/plan.json', 's3://prod-dumps/nightly/app.dump']);
    expect(plan.status, plan.stderr).toBe(0);
    expect(shards).toBeGreaterThan(1);
    // the pods, as the Job runs them: the image's entrypoint with the args, $(INDEX) put in by Kubernetes
    const pods = await Promise.all(
      Array.from({ length: shards }, (_, i) => runCliAsync(args.map((a) => a.replace('$(INDEX)', String(i)).replace('/rules/rules.yaml', rules)), { key: KEY, env: { ...s3env(), JOB_COMPLETION_INDEX: String(i) } })),
    );
    for (const p of pods) expect(p.status, p.stderr).toBe(0);
    expect(await keysUnder('nightly/parts/')).toHaveLength(shards * 2);
    // the assemble Job as written: the archive in the bucket, as one machine writes it to a pipe
    const asmArgs = assembleJob!.spec.template.spec.containers[0]!.args.map((a) => a.replace('/rules/rules.yaml', rules));
    expect(asmArgs.filter((a) => a.includes('/parts/'))).toHaveLength(shards);
    const asm = await runCliAsync(asmArgs, { key: KEY, env: s3env() });
    expect(asm.status, asm.stderr).toBe(0);
    const one = runCli(['-q', '-r', rules, archive], { key: KEY });
    expect(one.status, one.stderr).toBe(0);
    expect((await s3.send(new GetObjectCommand({ Bucket: 'staging-dumps', Key: 'nightly/safe.dump' })).then((r) => r.Body!.transformToByteArray()).then(Buffer.from)).equals(one.stdout)).toBe(true);
  }, 180_000);
});
