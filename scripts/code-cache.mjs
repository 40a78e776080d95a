// npm run build, last step (scripts/bundle.mjs runs it under bin's flags): runs the bundled command
// line over the bundled sample — the README's job, and a pass that keeps everything, each on the plain
// dump and on the same database as pg_dump -Fc — then writes V8's cache of the code, which then holds
// what those runs compiled as well as the parse (bin/load-cli.cjs).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const { BUNDLE, cachePath, codeCache, loadBundle } = createRequire(import.meta.url)('../bin/load-cli.cjs');

const { exports: cli, script, digest } = loadBundle(BUNDLE, { useCache: false });
const dir = mkdtempSync(join(tmpdir(), 'ad-code-cache-'));
const keep = join(dir, 'keep.yaml');
writeFileSync(keep, 'version: 1\nunknown: keep\n');
// a fixed key: the runs' outputs are thrown away, and nothing of a run is in the cache (code only)
process.env.ANONYMISE_DUMP_SECRET = 'code-cache-training-run-key';
try {
  for (const args of [
    ['-q', '-r', 'rules/examples/council.yaml', '-o', join(dir, 'council.sql'), 'fixtures/sample/sample.sql'],
    ['-q', '-r', keep, '-o', join(dir, 'keep.sql'), 'fixtures/sample/sample.sql'],
    ['-q', '-r', 'rules/examples/council.yaml', '--jobs', '1', '-o', join(dir, 'council.dump'), 'fixtures/sample/sample.dump'],
    ['-q', '-r', keep, '-o', join(dir, 'keep.dump'), 'fixtures/sample/sample.dump'],
  ]) {
    const status = await cli.main(args);
    if (status !== 0) throw new Error(`the training run ${args.join(' ')} exited with ${status}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
writeFileSync(cachePath(BUNDLE), codeCache(script, digest));
