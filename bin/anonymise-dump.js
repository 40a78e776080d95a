#!/usr/bin/env -S node --max-semi-space-size=4 --expose-gc --no-concurrent-marking --always-sparkplug
// A small young generation keeps peak memory flat (~105 MiB instead of ~155 MiB on a 1 GB dump) for a
// few per cent of speed: what we allocate per row dies young anyway (4 MiB semi-spaces against 2: 2.5 %
// faster for 2 MiB more, median of 8 pairs; 8 MiB: no faster than 4, for 10 MiB more). --expose-gc
// lets the stream loop collect when spent I/O buffers pile up (src/engine/run.ts): ~100 -> ~90 MiB.
// --no-concurrent-marking: V8 marks the old generation in steps on the thread that owns it instead of on
// helper threads, which on a machine whose cores our threads already fill only compete with them:
// full rules with workers, pairs: -Fd --jobs 2 -0.3 to -0.5 s (-1.0 CPU-s), plain --jobs 2 -0.11 s,
// --jobs 1 unchanged; peak memory the same with workers, ~20 MiB more where one thread holds a large heap
// (find, forget, an archive at --jobs 1). --single-threaded-gc was as fast, for ~25 MiB more per worker.
// --always-sparkplug: a function gets V8's baseline code at its first call, not after many runs in the
// interpreter. A worker meets each table's rules cold: its first pieces of a table took 2-4 times as
// long as the rest (~0.3 s of a 1 GB run's worker time; ~0.16 s with the flag). Pairs, full rules:
// plain --jobs 2 -0.13 s wall (-0.21 CPU-s), --jobs 1 -0.08 s; start-up and memory the same.
// (`node bin/anonymise-dump.js` skips this line; run the script itself, or through npx / the npm bin
// link. The code cache made at build time is made with these flags, and V8 takes it only under the
// same ones: bin/load-cli.cjs.)
import { createRequire } from 'node:module';

const { loadCli } = createRequire(import.meta.url)('./load-cli.cjs');
const { main } = await loadCli();

process.exitCode = await main(process.argv.slice(2));
