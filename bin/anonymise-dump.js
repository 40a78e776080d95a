#!/usr/bin/env -S node --max-semi-space-size=2 --expose-gc
// A small young generation keeps peak memory flat (~105 MiB instead of ~155 MiB on a 1 GB dump) for a
// few per cent of speed: what we allocate per row dies young anyway. --expose-gc lets the stream loop
// collect when spent I/O buffers pile up (src/engine/run.ts): ~100 -> ~90 MiB. (`node bin/anonymise-dump.js`
// skips this line; run the script itself, or through npx / the npm bin link.)
import { existsSync } from 'node:fs';

// the modules joined into a few files (scripts/bundle.mjs) start faster; dist/ as tsc wrote it otherwise
const bundled = new URL('../dist/bundle/cli.js', import.meta.url);
const { main } = await import(existsSync(bundled) ? bundled.href : '../dist/cli.js');

process.exitCode = await main(process.argv.slice(2));
