/**
 * The worker pool (src/engine/worker-pool.ts): a worker is busy until it says it is ready, full when it
 * holds two jobs, and a worker that dies while it starts fails the pool's next job instead of leaving
 * the caller to do everything itself without a word.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkerPool } from '../src/engine/worker-pool.js';
import { scratch } from './support/scratch.js';

const dir = scratch('ad-worker-pool-');

/** A worker script: `start` runs first; each job is answered with its bytes' length. */
function script(name: string, start: string): string {
  const file = join(dir, `${name}.mjs`);
  writeFileSync(
    file,
    `import { parentPort } from 'node:worker_threads';
${start}
parentPort.on('message', (m) => parentPort.postMessage({ id: m.id, ok: true, out: new Uint8Array(0), length: m.job.data.length, adler: 0, lines: 0, stats: [] }));
`,
  );
  return file;
}

const job = () => ({ data: new Uint8Array(8) });
const until = async (cond: () => boolean, ms = 10_000) => {
  const since = Date.now();
  while (!cond() && Date.now() - since < ms) await new Promise((r) => setTimeout(r, 5));
};

let pool: WorkerPool<{ data: Uint8Array }> | null = null;
afterEach(async () => {
  await pool?.close();
  pool = null;
});

describe('WorkerPool', () => {
  it('is busy while its worker starts, free once it says it is ready, full with two jobs held', async () => {
    pool = new WorkerPool(1, null, { file: script('slow-start', "setTimeout(() => parentPort.postMessage({ ready: true }), 300);") });
    expect(pool.busy()).toBe(true);
    expect(pool.full()).toBe(false);
    await until(() => !pool!.busy());
    expect(pool.busy()).toBe(false);
    const a = pool.run(job());
    const b = pool.run(job());
    expect([pool.full(), pool.busy()]).toEqual([true, true]);
    expect((await a).length).toBe(8);
    await b;
    expect(pool.busy()).toBe(false);
  });

  it('a job sent while the worker starts waits for it and is answered', async () => {
    pool = new WorkerPool(1, null, { file: script('late', "setTimeout(() => parentPort.postMessage({ ready: true }), 200);") });
    expect((await pool.run(job())).length).toBe(8);
  });

  it('a worker that dies as it starts: the pool is no longer busy, and its next job fails with the error', async () => {
    pool = new WorkerPool(1, null, { file: script('dies', "throw new Error('the worker could not start');") });
    expect(pool.busy()).toBe(true);
    await until(() => !pool!.busy());
    expect(pool.busy()).toBe(false);
    await expect(pool.run(job())).rejects.toThrow('the worker could not start');
  });
});
