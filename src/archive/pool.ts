/**
 * Worker threads for an archive's data entries: each worker builds the engine's state once (the TOC
 * through the rules, as the main thread did) and then rewrites one entry at a time. Jobs go to the
 * next idle worker; the first failure stops the pool (the others' jobs are cancelled).
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { AnonymiseError, type ErrorCode, type Position } from '../errors.js';
import type { TableStats } from '../dump/rewriter.js';

export interface Job {
  dumpId: number;
  input: { kind: 'directory' } | { kind: 'custom'; offset: number };
  output: { kind: 'file'; path: string } | { kind: 'block'; path: string };
}

export interface JobResult {
  stats: TableStats[];
}

export type WorkerReply =
  | { id: number; ok: true; stats: TableStats[] }
  | { id: number; ok: false; error: { code: ErrorCode; detail: string; position: Position } | { internal: string; code?: string; syscall?: string; stack?: string } };

/** The worker's compiled file: beside this one in dist/ (tests run the sources, and the build first). */
function workerFile(): string {
  const here = fileURLToPath(new URL('./worker.js', import.meta.url));
  if (existsSync(here)) return here;
  return fileURLToPath(new URL('../../dist/archive/worker.js', import.meta.url));
}

export class WorkerPool {
  private readonly idle: Worker[] = [];
  private readonly all: Worker[] = [];
  private readonly waiting: (() => void)[] = [];
  private readonly calls = new Map<number, { resolve: (r: JobResult) => void; reject: (e: unknown) => void }>();
  private next = 1;
  private failed: unknown = null;

  constructor(size: number, setup: unknown) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(workerFile(), { workerData: setup, resourceLimits: { maxOldGenerationSizeMb: 256 } });
      w.on('message', (m: WorkerReply) => this.reply(w, m));
      w.on('error', (e) => this.fail(e));
      w.on('exit', (code) => {
        if (code !== 0 && !this.closing) this.fail(new Error(`worker stopped (${code})`));
      });
      this.all.push(w);
      this.idle.push(w);
    }
  }

  private closing = false;

  private reply(w: Worker, m: WorkerReply): void {
    const call = this.calls.get(m.id);
    this.calls.delete(m.id);
    this.idle.push(w);
    this.waiting.shift()?.();
    if (!call) return;
    if (m.ok) call.resolve({ stats: m.stats });
    else {
      const e = 'internal' in m.error ? Object.assign(new Error(m.error.internal), { name: m.error.internal, stack: m.error.stack, code: m.error.code, syscall: m.error.syscall }) : new AnonymiseError(m.error.code, m.error.detail, m.error.position);
      call.reject(e);
      this.fail(e);
    }
  }

  private fail(e: unknown): void {
    if (this.failed) return;
    this.failed = e;
    for (const [, c] of this.calls) c.reject(e);
    this.calls.clear();
    for (const r of this.waiting.splice(0)) r();
  }

  /** Runs `job` on the next idle worker. The promise is also observed here, so that a job abandoned by a failed run is no unhandled rejection. */
  run(job: Job): Promise<JobResult> {
    const p = (async () => {
      while (this.idle.length === 0 && !this.failed) await new Promise<void>((r) => this.waiting.push(r));
      if (this.failed) throw this.failed;
      const w = this.idle.pop()!;
      const id = this.next++;
      return new Promise<JobResult>((resolve, reject) => {
        this.calls.set(id, { resolve, reject });
        w.postMessage({ id, job });
      });
    })();
    p.catch(() => {});
    return p;
  }

  /** Stops every worker; jobs not finished fail with `reason` (a signal, another job's failure). */
  async close(reason: unknown = new Error('worker pool closed')): Promise<void> {
    this.closing = true;
    this.fail(reason);
    await Promise.all(this.all.map((w) => w.terminate()));
  }
}
