/**
 * Worker threads that rewrite pieces of rows (an archive's tables: archive/pool.ts; a plain dump's COPY
 * rows: plain-pieces.ts): each worker builds the engine's state once from `setup`, then runs its jobs
 * one at a time. Each worker holds up to `QUEUED` jobs, so that it starts its next one without waiting
 * for the main thread to answer its reply (the main thread may be busy reading or writing); jobs go to
 * the least busy worker. The first failure stops the pool (the others' jobs fail with it), so that the
 * run reports the first failure in the input's order.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, parentPort } from 'node:worker_threads';
import { AnonymiseError, type ErrorCode, type Position } from '../errors.js';
import type { TableStats } from '../dump/rewriter.js';

export interface PieceResult {
  out: Uint8Array;
  /** the rewritten bytes' length and Adler-32, before packing */
  length: number;
  adler: number;
  /** lines read (a message's line within the piece + the lines of the pieces before = its line in the entry) */
  lines: number;
  stats: TableStats[];
  /** memory the worker hands back for reuse (its job's input, moved back to the main thread) */
  give?: ArrayBuffer[];
}

export type WorkerReply =
  | { ready: true }
  | ({ id: number; ok: true } & PieceResult)
  | { id: number; ok: false; error: { code: ErrorCode; detail: string; position: Position } | { internal: string; code?: string; syscall?: string; stack?: string } };

/** Jobs a worker holds at once: the one it runs and the next. */
const QUEUED = 2;

export class WorkerPool<J extends { data: Uint8Array; gifts?: ArrayBuffer[] }> {
  /** jobs each worker holds */
  private readonly load = new Map<Worker, number>();
  private readonly all: Worker[] = [];
  private readonly waiting: (() => void)[] = [];
  private readonly calls = new Map<number, { resolve: (r: PieceResult) => void; reject: (e: unknown) => void }>();
  private next = 1;
  private failed: unknown = null;
  /** workers still building their engine (they say when they are ready) */
  private readonly starting = new Set<Worker>();

  /** `script`: the worker's script (workerScript); `setup`: what it builds its engine from */
  constructor(size: number, setup: unknown, script: WorkerScript) {
    for (let i = 0; i < size; i++) {
      // a young generation of 8 MiB (V8's default is larger): -Fd, 291 MB, two workers: peak RSS 270 -> 222 MiB for 1 % more time
      const w = new Worker(script.file, { argv: script.argv, workerData: setup, resourceLimits: { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 8 } });
      this.starting.add(w);
      w.on('message', (m: WorkerReply) => ('ready' in m ? this.starting.delete(w) : this.reply(w, m)));
      w.on('error', (e) => this.fail(e));
      w.on('exit', (code) => {
        if (code !== 0 && !this.closing) this.fail(new Error(`worker stopped (${code})`));
      });
      this.all.push(w);
      this.load.set(w, 0);
    }
  }

  private closing = false;

  private reply(w: Worker, m: Exclude<WorkerReply, { ready: true }>): void {
    const call = this.calls.get(m.id);
    this.calls.delete(m.id);
    this.load.set(w, this.load.get(w)! - 1);
    this.waiting.shift()?.();
    if (!call) return;
    if (m.ok) call.resolve({ out: m.out, length: m.length, adler: m.adler, lines: m.lines, stats: m.stats, give: m.give });
    else {
      const e = 'internal' in m.error ? Object.assign(new Error(m.error.internal), { name: m.error.internal, stack: m.error.stack, code: m.error.code, syscall: m.error.syscall }) : new AnonymiseError(m.error.code, m.error.detail, m.error.position);
      call.reject(e);
      this.fail(e, m.id);
    }
  }

  /**
   * Stops handing out jobs. Jobs sent after job `after` fail with `e`; those before it run to their end,
   * so that the run reports the first failure in the input's order (as `--jobs 1` would) with its line
   * placed after theirs. Without `after` (a worker died, a signal) every job fails.
   */
  private fail(e: unknown, after = 0): void {
    if (this.failed && after === 0) {
      for (const [, c] of this.calls) c.reject(this.failed);
      this.calls.clear();
      return;
    }
    if (this.failed) return;
    this.failed = e;
    for (const [id, c] of this.calls) {
      if (id < after) continue;
      c.reject(e);
      this.calls.delete(id);
    }
    for (const r of this.waiting.splice(0)) r();
  }

  /** The worker holding the fewest jobs, if one has room. */
  private leastBusy(): Worker | null {
    let best: Worker | null = null;
    for (const w of this.all) if (this.load.get(w)! < QUEUED && (!best || this.load.get(w)! < this.load.get(best)!)) best = w;
    return best;
  }

  /** Whether every worker holds its next job besides the one it runs. */
  full(): boolean {
    return this.all.every((w) => this.load.get(w)! >= QUEUED);
  }

  /**
   * Whether no worker would start a job soon: each is still building its engine, or is full. (A caller
   * that can do the work itself does it then: plain-pieces.ts.) A failed pool is not busy: the next job
   * is handed out, and fails with the failure, which the run reports instead of going on without it.
   */
  busy(): boolean {
    if (this.failed) return false;
    return this.all.every((w) => this.starting.has(w) || this.load.get(w)! >= QUEUED);
  }

  /** Runs `job` on the least busy worker. The promise is also observed here, so that a job abandoned by a failed run is no unhandled rejection. */
  run(job: J): Promise<PieceResult> {
    const p = (async () => {
      let w: Worker | null;
      while (!(w = this.leastBusy()) && !this.failed) await new Promise<void>((r) => this.waiting.push(r));
      if (this.failed) throw this.failed;
      this.load.set(w!, this.load.get(w!)! + 1);
      const id = this.next++;
      return new Promise<PieceResult>((resolve, reject) => {
        this.calls.set(id, { resolve, reject });
        // the piece's bytes, and buffers given back for the worker's next outputs, move (no copy)
        w!.postMessage({ id, job }, [job.data.buffer as ArrayBuffer, ...(job.gifts ?? [])]);
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

/** A worker thread's script, and what it is given as its arguments. */
export interface WorkerScript {
  file: string;
  argv?: string[];
}

/**
 * A worker's script, `dir`/`name` of dist/, for a calling module at `moduleUrl`:
 * - in the one-file build (dist/bundle/cli.cjs, the command line), bin/load-worker.cjs, which starts it
 *   from the same file and its code cache (~0.2 s sooner than ~60 modules of dist/ loaded one by one);
 * - in dist/, the compiled module beside the caller;
 * - in the sources (the tests, after the build), the one in dist/.
 * Every dist/ module and the bundle sit two levels down, so `../../` is the package's root from each.
 */
export function workerScript(moduleUrl: string, dir: string, name: string): WorkerScript {
  if (moduleUrl.endsWith('.cjs')) return { file: fileURLToPath(new URL('../../bin/load-worker.cjs', moduleUrl)), argv: [`${dir}/${name}`] };
  const here = fileURLToPath(new URL(`./${name}`, moduleUrl));
  if (existsSync(here)) return { file: here };
  return { file: fileURLToPath(new URL(`../../dist/${dir}/${name}`, moduleUrl)) };
}

/** Bytes in an ArrayBuffer of their own: a small Buffer lives in Node's shared pool, which must not be moved to another thread. */
export function ownBytes(b: Buffer): Uint8Array {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return b;
  const c = new Uint8Array(b.byteLength);
  c.set(b);
  return c;
}

/**
 * A worker's side of the pool: each job `run` answers, its output moved (not copied) back; a failure
 * as its code, detail and position (an AnonymiseError), or its name and system-call code (any other).
 */
export function serveJobs<J>(run: (job: J) => Promise<PieceResult>, ready: Promise<unknown>): void {
  // the pool hands this worker jobs to start at once from here on (a failed start fails its first job)
  const said = () => parentPort!.postMessage({ ready: true } satisfies WorkerReply);
  ready.then(said, said);
  // jobs queued here run one after another: a job's engine state is this thread's one rewriter
  let last: Promise<unknown> = Promise.resolve();
  parentPort!.on('message', (m: { id: number; job: J }) => {
    last = last.then(() => run(m.job)).then(
      (r) => parentPort!.postMessage({ ...r, ok: true, id: m.id } satisfies WorkerReply, [r.out.buffer as ArrayBuffer, ...(r.give ?? [])]),
      (err: unknown) => {
        const error =
          err instanceof AnonymiseError
            ? { code: err.code, detail: err.detail, position: err.position }
            : {
                internal: (err as Error)?.name ?? 'Error',
                code: (err as NodeJS.ErrnoException)?.code,
                syscall: (err as NodeJS.ErrnoException)?.syscall,
                stack: process.env.ANONYMISE_DUMP_DEBUG ? (err as Error)?.stack : undefined,
              };
        parentPort!.postMessage({ id: m.id, ok: false, error } satisfies WorkerReply);
      },
    );
  });
}
