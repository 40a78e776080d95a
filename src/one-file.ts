/**
 * The one-file build's entry (scripts/bundle.mjs → dist/bundle/cli.cjs): the command line, and the
 * worker threads' scripts, which bin/load-worker.cjs starts from the same file and V8's code cache.
 * Each worker script runs when it is loaded (it serves its jobs), so it is loaded only in its worker.
 */
export { main } from './cli.js';

const WORKERS: Record<string, () => Promise<unknown>> = {
  'engine/plain-worker.js': () => import('./engine/plain-worker.js'),
  'archive/worker.js': () => import('./archive/worker.js'),
};

/** Runs the worker script named as engine/worker-pool.ts's workerScript names it. */
export async function startWorker(script: string): Promise<void> {
  const load = WORKERS[script];
  if (!load) throw new Error(`no worker script ${script}`);
  await load();
}
