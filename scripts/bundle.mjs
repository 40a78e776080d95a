// npm run build, second step: the command line's modules (dist/, from tsc) joined into one file,
// dist/bundle/cli.cjs, with V8's code cache beside it (scripts/code-cache.mjs); bin/load-cli.cjs loads
// them. Node resolved and read ~120 modules one by one at every start, then parsed and compiled them:
// 0.24 s for a keep-only pass over a 30 MB archive, 0.19 s from the one file and its cache.
// - One file, CommonJS: only a script (vm.Script) takes a code cache under Node 20; modules do not.
// - yaml and commander, which every run loads, are joined in (yaml's 72 files cost ~20 ms to find and
//   read one by one); other packages stay imports, loaded where they are used: pg by the commands that
//   connect, the S3 client by s3:// runs, iconv-lite by dumps not in UTF-8.
// - Worker threads start from it too (bin/load-worker.cjs): its entry, src/one-file.ts, names them.
// - The bundle sits two levels down, as every dist/ module does, so paths the code takes from its own
//   location (the presets in rules/, package.json, a worker's script) resolve the same.
import { readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { build } from 'rolldown';

const JOINED = new Set(['yaml', 'commander']);
const LOAD_MODULE = resolve('dist/load-module.js');
const OUT = 'dist/bundle/cli.cjs';

rmSync('dist/bundle', { recursive: true, force: true });

await build({
  input: 'dist/one-file.js',
  platform: 'node',
  external: (id) => !id.startsWith('.') && !id.startsWith('/') && !JOINED.has(id),
  logLevel: 'warn',
  // import() in a script compiled from V8's cache fails (its callback is lost): src/load-module.ts's
  // one import() becomes the loader's, which bin/load-cli.cjs hands in beside require
  plugins: [{ name: 'load-module-from-the-loader', load: (id) => (id === LOAD_MODULE ? 'export const loadModule = (specifier) => __loadModule(specifier);' : null) }],
  output: { dir: 'dist/bundle', format: 'cjs', entryFileNames: 'cli.cjs', codeSplitting: false, strict: true, comments: { legal: true, annotation: true, jsdoc: false }, charset: 'ascii' },
});

const bytes = readFileSync(OUT);
// ASCII (charset above; String.raw patterns spell U+2019 as \u2019): the loader reads it as latin1,
// and V8 holds it in one byte per character
const wide = bytes.findIndex((b) => b > 0x7f);
if (wide >= 0) throw new Error(`${OUT} is not ASCII at byte ${wide}: spell the character as an escape`);
const left = bytes.toString('latin1').match(/\bimport\s*\(.{0,40}/g);
if (left) throw new Error(`import() left in ${OUT} (it would fail under the code cache); load through src/load-module.ts: ${left.join(' | ')}`);

// the cache is made under the flags bin/anonymise-dump.js runs with: V8 rejects it under others
const shebang = readFileSync('bin/anonymise-dump.js', 'utf8').split('\n', 1)[0];
const flags = shebang.split(/\s+/).filter((w) => w.startsWith('--'));
const made = spawnSync(process.execPath, [...flags, 'scripts/code-cache.mjs'], { stdio: 'inherit' });
if (made.status !== 0) process.exit(made.status ?? 1);
