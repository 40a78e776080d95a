/**
 * A worker thread's script when the command line runs from its one-file build (src/engine/worker-pool.ts
 * workerScript): the same file and code cache as the command line (bin/load-cli.cjs), then the worker's
 * own module, named by its first argument. A worker started from dist/ loaded ~60 modules one by one
 * and compiled them anew: ~0.2 s more before its first piece.
 */
'use strict';
const { loadBundle } = require('./load-cli.cjs');

loadBundle().exports.startWorker(process.argv[2]);
