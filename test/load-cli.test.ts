/**
 * The one-file build and its code cache (scripts/bundle.mjs, scripts/code-cache.mjs, bin/load-cli.cjs):
 * the cache is taken under bin's own flags and only for the bytes it was made from; under anything
 * else the command line still runs, compiled as usual; and what the bundle loads on demand (faker's
 * locales, a rules file's transformers, pg) still loads when its code came from the cache.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
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
    ['other flags', ['--max-semi-space-size=4'], 'rejected'],
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
});
