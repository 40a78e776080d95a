/**
 * Loads the command line. `npm run build` joins it into one file, dist/bundle/cli.cjs
 * (scripts/bundle.mjs), and leaves beside it V8's code cache from a run over the bundled sample
 * (scripts/code-cache.mjs): with it, V8 neither parses the ~1 MB of code nor compiles what that run
 * compiled, ~45 ms of every start (0.24 → 0.19 s for a keep-only pass over a 30 MB archive).
 *
 * The cache is used only when it was made from these very bytes: V8 checks its own version, its flags
 * and the source's length, not the source, so a rebuilt bundle of the same length would run stale
 * code. Its file starts with the bundle's SHA-256; V8 rejects it under another Node or other flags, and
 * then the code is compiled as usual. Without a bundle, dist/cli.js is loaded as tsc wrote it.
 */
// CommonJS, required by the bin: an ES module importing node:crypto and the rest costs ~2 ms more
'use strict';
const { createHash } = require('node:crypto');
const { existsSync, readFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');

const BUNDLE = join(__dirname, '../dist/bundle/cli.cjs');
const DIGEST_BYTES = 32;
// CommonJS's wrapper, and src/load-module.ts's import(), done here: a script compiled from V8's cache
// has lost its own import() (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING). Packages resolve from here as
// from dist/; a rules file's transformers come as file: URLs.
const WRAPPER = ['(function (exports, require, module, __filename, __dirname, __loadModule) {', '\n})'];
const loadModule = (specifier) => import(specifier);

/** The cache file for a bundle: its SHA-256, then V8's data. */
function cachePath(bundle) {
  return `${bundle}.cache`;
}

/**
 * The bundle at `bundle`, compiled (with its cache when that fits) and run: its exports, the compiled
 * script (whose cache a training run writes) and what became of the cache: `accepted`, `none`, `stale`
 * (made from other bytes) or `rejected` (by V8: another Node, other flags).
 */
function loadBundle(bundle = BUNDLE, { useCache = true } = {}) {
  const source = readFileSync(bundle);
  const digest = createHash('sha256').update(source).digest();
  let cachedData;
  let cache = 'none';
  const saved = useCache && existsSync(cachePath(bundle)) ? readFileSync(cachePath(bundle)) : null;
  if (saved) {
    if (saved.length > DIGEST_BYTES && digest.equals(saved.subarray(0, DIGEST_BYTES))) cachedData = saved.subarray(DIGEST_BYTES);
    else cache = 'stale';
  }
  // ASCII (scripts/bundle.mjs checks): latin1 is the cheap decoding, and V8 keeps one byte per character
  const script = new Script(`${WRAPPER[0]}${source.toString('latin1')}${WRAPPER[1]}`, { filename: bundle, cachedData });
  if (cachedData) cache = script.cachedDataRejected ? 'rejected' : 'accepted';
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, dirname(bundle), loadModule);
  return { exports: module.exports, script, digest, cache };
}

/** The V8 cache of `script` (after a run has compiled what a run compiles), for `loadBundle`. */
function codeCache(script, digest) {
  return Buffer.concat([digest, script.createCachedData()]);
}

/** `main` of the command line: the bundle's when built, else dist/cli.js's. */
async function loadCli() {
  if (existsSync(BUNDLE)) return loadBundle().exports;
  return import('../dist/cli.js');
}

module.exports = { BUNDLE, cachePath, codeCache, loadBundle, loadCli };
