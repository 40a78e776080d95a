/**
 * The one-file build and its code cache (scripts/bundle.mjs, scripts/code-cache.mjs, bin/load-cli.cjs):
 * the cache is taken under bin's own flags and only for the bytes it was made from; under anything
 * else the command line still runs, compiled as usual; what the bundle loads on demand (faker's
 * locales, a rules file's transformers, pg) still loads when its code came from the cache; and worker
 * threads start from the same file and cache (bin/load-worker.cjs).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { workerScript } from '../src/engine/worker-pool.js';
import type { PlainWorkerSetup, PlainPieceJob } from '../src/engine/plain-pieces.js';
import { describe, expect, it } from 'vitest';
import { scratch } from './support/scratch.js';
import { BIN, COUNCIL, NODE_FLAGS, ROOT, SAMPLE } from './support/cli.js';

const BUNDLE = join(ROOT, 'dist/bundle/cli.cjs');
const LOADER = pathToFileURL(join(ROOT, 'bin/load-cli.cjs')).href;

/** Loads `bundle` in a fresh Node with `flags`, then runs `then` (a body given `b`, the load's result). */
function load(flags: string[], bundle: string, then = ''): { status: number | null; stdout: string; stderr: string } {
  const script = `import(${JSON.stringify(LOADER)}).then(async (m) => { const b = m.loadBundle(${JSON.stringify(bundle)}); process.stdout.write(b.cache); ${then} })`;
  const r = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', script], { encoding: 'utf8', cwd: ROOT, env: { PATH: process.env.PATH, ANONYMISE_DUMP_SECRET: 'load-cli-test-key-Xc81vQ' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A copy of the bundle and its cache in a tree of its own (package.json two levels up, as in dist/). */
function copyOfBundle(): string {
  const root = scratch('ad-load-cli-');
  mkdirSync(join(root, 'dist/bundle'), { recursive: true });
  copyFileSync(join(ROOT, 'package.json'), join(root, 'package.json'));
  const bundle = join(root, 'dist/bundle/cli.cjs');
  copyFileSync(BUNDLE, bundle);
  copyFileSync(`${BUNDLE}.cache`, `${bundle}.cache`);
  return bundle;
}

describe('the one-file build', () => {
  it('is ASCII and has no import() of its own (one would fail under the cache)', () => {
    const bytes = readFileSync(BUNDLE);
    expect(bytes.findIndex((b) => b > 0x7f)).toBe(-1);
    expect(bytes.toString('latin1')).not.toMatch(/\bimport\s*\(/);
    expect(bytes.toString('latin1')).toContain('__loadModule(specifier)');
  });

  it.each([
    ["bin's flags", NODE_FLAGS, 'accepted'],
    ['no flags (node bin/anonymise-dump.js)', [], 'rejected'],
    ['other flags', ['--max-semi-space-size=8'], 'rejected'],
  ])('under %s the cache is %s, and the command line runs', (_, flags, verdict) => {
    const r = load(flags, BUNDLE, "process.exitCode = await b.exports.main(['--version']);");
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${verdict}${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}\n`);
  });

  it('a cache made from other bytes of the same length is not used (V8 itself would take it)', () => {
    const bundle = copyOfBundle();
    const text = readFileSync(bundle, 'latin1');
    const at = text.indexOf('rolldown/runtime.js');
    expect(at).toBeGreaterThan(-1);
    writeFileSync(bundle, `${text.slice(0, at)}rolldown/runtimX.js${text.slice(at + 19)}`, 'latin1');
    const direct = `const { Script } = await import('node:vm'); const fs = await import('node:fs');
      const s = new Script('(function (exports, require, module, __filename, __dirname, __loadModule) {' + fs.readFileSync(${JSON.stringify(bundle)}, 'latin1') + '\\n})', { filename: ${JSON.stringify(bundle)}, cachedData: fs.readFileSync(${JSON.stringify(`${bundle}.cache`)}).subarray(32) });
      process.stdout.write(' v8:' + (s.cachedDataRejected ? 'rejected' : 'taken'));`;
    const r = load(NODE_FLAGS, bundle, `process.stdout.write(' ' + typeof b.exports.main); ${direct}`);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('stale function v8:taken');
  });

  it('a bundle without a cache loads, compiled as usual', () => {
    const bundle = copyOfBundle();
    writeFileSync(`${bundle}.cache`, '');
    expect(load(NODE_FLAGS, bundle, "process.stdout.write(' ' + typeof b.exports.main);").stdout).toBe('stale function');
  });

  it('from the cache, runs that load modules on demand work: faker locales (the sample with its rules), a transformer module, pg', () => {
    const dir = scratch('ad-load-cli-run-');
    writeFileSync(join(dir, 'shout.mjs'), 'export const shout = (v) => v.toUpperCase();\n');
    writeFileSync(join(dir, 'rules.yaml'), 'version: 1\nunknown: keep\ntables:\n  public.wagtailcore_page:\n    columns:\n      title: { js: "./shout.mjs#shout" }\n');
    const env = { PATH: process.env.PATH, ANONYMISE_DUMP_SECRET: 'load-cli-test-key-Xc81vQ' };
    const sample = spawnSync(process.execPath, [...NODE_FLAGS, BIN, '-q', '-r', COUNCIL, SAMPLE], { env, maxBuffer: 1 << 26 });
    expect(sample.stderr.toString()).toBe('');
    expect(sample.status).toBe(0);
    const js = spawnSync(process.execPath, [...NODE_FLAGS, BIN, '-q', '--allow-js', '-r', join(dir, 'rules.yaml'), SAMPLE], { env, maxBuffer: 1 << 26 });
    expect(js.stderr.toString()).toBe('');
    expect(js.status).toBe(0);
    expect(js.stdout.toString()).toContain('\tPAGE 1: COUNCIL TAX\tpage-1\t');
    // pg is loaded only to connect: a refused connection is pg's error, in our words
    const db = spawnSync(process.execPath, [...NODE_FLAGS, BIN, 'init', '--db', 'postgresql://nobody@127.0.0.1:9/none'], { env, encoding: 'utf8' });
    expect(db.stderr).toMatch(/^anonymise-dump: cannot connect to the database: /);
    expect(db.stderr).not.toMatch(/ERR_VM|import\(\)|TypeError/);
  });

  it('names bin/load-worker.cjs as the workers\' script from the bundle, and the module in dist/ otherwise', () => {
    expect(workerScript(pathToFileURL(BUNDLE).href, 'engine', 'plain-worker.js')).toEqual({ file: join(ROOT, 'bin/load-worker.cjs'), argv: ['engine/plain-worker.js'] });
    expect(workerScript(pathToFileURL(join(ROOT, 'dist/archive/pool.js')).href, 'archive', 'worker.js')).toEqual({ file: join(ROOT, 'dist/archive/worker.js') });
    expect(workerScript(pathToFileURL(join(ROOT, 'src/archive/pool.ts')).href, 'archive', 'worker.js')).toEqual({ file: join(ROOT, 'dist/archive/worker.js') });
  });

  it("a worker thread takes the cache under bin's flags and the pool's limits", () => {
    const code = `const { parentPort } = require('node:worker_threads'); parentPort.postMessage(require(${JSON.stringify(join(ROOT, 'bin/load-cli.cjs'))}).loadBundle().cache);`;
    const script = `const { Worker } = require('node:worker_threads');
      const w = new Worker(${JSON.stringify(code)}, { eval: true, resourceLimits: { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 8 } });
      w.on('message', (m) => { process.stdout.write(m); w.terminate(); });`;
    const r = spawnSync(process.execPath, [...NODE_FLAGS, '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('accepted');
  });

  it('bin/load-worker.cjs starts the plain worker from the bundle: ready, then a piece rewritten as this thread rewrites it', async () => {
    const text = readFileSync(SAMPLE);
    const at = text.indexOf('COPY public.users_user ');
    const headerEnd = text.indexOf('\n', at) + 1;
    const dataEnd = text.indexOf('\\.\n', headerEnd);
    const setup: PlainWorkerSetup = { rules: { files: [COUNCIL] }, key: Buffer.from('load-cli-test-key-Xc81vQ'), schema: new Uint8Array(text.subarray(0, at)) };
    const job: PlainPieceJob = { header: new Uint8Array(text.subarray(at, headerEnd)), data: new Uint8Array(text.subarray(headerEnd, dataEnd)) };
    const w = new Worker(join(ROOT, 'bin/load-worker.cjs'), { argv: ['engine/plain-worker.js'], workerData: setup });
    try {
      const replies: { ready?: true; ok?: boolean; out?: Uint8Array; lines?: number }[] = [];
      const done = new Promise<void>((resolve, reject) => {
        w.on('error', reject);
        w.on('message', (m: (typeof replies)[number]) => {
          replies.push(m);
          if (m.ready) w.postMessage({ id: 1, job });
          else resolve();
        });
      });
      await done;
      expect(replies[0]).toEqual({ ready: true });
      expect(replies[1]!.ok).toBe(true);
      const rows = text.subarray(headerEnd, dataEnd).toString('utf8').split('\n').length - 1;
      expect(replies[1]!.lines).toBe(rows);
      // the same bytes as a whole run on this thread writes for those rows
      const one = spawnSync(process.execPath, [...NODE_FLAGS, BIN, '-q', '--jobs', '1', '-r', COUNCIL, SAMPLE], { env: { PATH: process.env.PATH, ANONYMISE_DUMP_SECRET: 'load-cli-test-key-Xc81vQ' }, maxBuffer: 1 << 26 });
      expect(one.status).toBe(0);
      const whole = one.stdout;
      const out = Buffer.from(replies[1]!.out!);
      expect(out.length).toBeGreaterThan(0);
      expect(whole.includes(out)).toBe(true);
      expect(out.includes(text.subarray(headerEnd, text.indexOf('\t', text.indexOf('\t', headerEnd) + 1)))).toBe(false);
    } finally {
      await w.terminate();
    }
  }, 60_000);

  it('--jobs 2 from the bundle (archive workers) writes the bytes --jobs 1 writes', () => {
    const env = { PATH: process.env.PATH, ANONYMISE_DUMP_SECRET: 'load-cli-test-key-Xc81vQ' };
    const dir = scratch('ad-load-cli-jobs-');
    const outs = [1, 2].map((j) => {
      const out = join(dir, `out-${j}.dump`);
      const r = spawnSync(process.execPath, [...NODE_FLAGS, BIN, '-q', '--jobs', String(j), '-r', COUNCIL, '-o', out, join(ROOT, 'fixtures/sample/sample.dump')], { env, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      return readFileSync(out);
    });
    expect(outs[1]!.equals(outs[0]!)).toBe(true);
  });
});
