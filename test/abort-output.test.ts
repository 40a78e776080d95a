/**
 * A run stopped part-way (a signal) writes a prefix of the complete output, then the ABORTED trailer
 * for the place it stops: nothing twice, nothing from further on. Two ways that went wrong:
 * - the signal came while the sink drained: the chunk just written stayed queued, and the abort wrote
 *   it again (on the command line, its pooled buffer was given back twice: a crash, exit 1, and at
 *   times no trailer);
 * - with workers, the output stops where an unfinished piece was to go, but what this thread had
 *   written after that piece and not yet handed on followed it anyway (a kept table's rows, half a
 *   row), under the trailer of the wrong place;
 * - a failure not our own (a worker gone) wrote no trailer at all: the cut dump restored without error.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AnonymiseError } from '../src/errors.js';
import { scratch } from './support/scratch.js';
import { compileRules, readRules, rewriteStream, type RewriteOptions } from '../src/engine/run.js';

const KEY = 'abort-output-test-Wq7nR2xK9pLm';
const SAMPLE = readFileSync('fixtures/sample/sample.sql');
const SOURCE = { files: ['rules/examples/council.yaml'] };
const TRAILER = '\nDO $anonymise_dump$';

/** The sample in `size`-byte chunks; `before(i)` runs before chunk i is given. */
async function* chunks(size: number, before: (i: number) => void = () => {}): AsyncGenerator<Buffer> {
  for (let i = 0, at = 0; at < SAMPLE.length; i++, at += size) {
    before(i);
    yield SAMPLE.subarray(at, at + size);
  }
}

/** A sink that takes its time: every write fills it (backpressure), and is done a few ms later. */
class SlowSink extends Writable {
  readonly got: Buffer[] = [];
  constructor(private readonly onWrite: (n: number) => void = () => {}) {
    super({ highWaterMark: 1 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    this.got.push(Buffer.from(chunk));
    this.onWrite(this.got.length);
    setTimeout(done, 2);
  }
}

async function run(source: AsyncIterable<Buffer>, sink: Writable, options: Partial<RewriteOptions>): Promise<unknown> {
  const rules = compileRules(await readRules(SOURCE), KEY);
  return rewriteStream(source, sink, { rules, rulesSource: SOURCE, ...options }).done.then(
    () => null,
    (e: unknown) => e,
  );
}

/** What a stopped run wrote before its trailer, and the trailer's first line. */
function split(out: Buffer): { body: Buffer; first: string } {
  const text = out.toString('latin1');
  const at = text.lastIndexOf(TRAILER);
  expect(at, 'an ABORTED trailer').toBeGreaterThan(0);
  // in COPY data, the trailer begins with a row of \N, one field too many; between statements, with a line break
  const rowStart = text.lastIndexOf('\n', at - 1) + 1;
  const end = /^(\\N\t)+\\N$/.test(text.slice(rowStart, at)) ? rowStart : at;
  return { body: out.subarray(0, end), first: text.slice(end, text.indexOf('\n', end + 1)).replace(/^\n/, '') };
}

const stop = () => new AnonymiseError('INTERRUPTED', 'interrupted by SIGTERM');

describe('a run stopped part-way writes a prefix of the whole output, then the trailer', async () => {
  const whole = new SlowSink();
  expect(await run(chunks(4096), whole, {})).toBeNull();
  const complete = Buffer.concat(whole.got);

  it.each([
    ['one thread', {}],
    ['workers', { jobs: 2, localFirstBytes: 0, waitForWorkers: true, workersOnly: true, pieceBytes: 1024 }],
  ] as const)('%s: a signal while the sink drains', async (_name, extra) => {
    const controller = new AbortController();
    const sink = new SlowSink((n) => n === 1 && controller.abort(stop()));
    const e = await run(chunks(4096), sink, { ...extra, signal: controller.signal });
    expect(e).toBeInstanceOf(AnonymiseError);
    const { body } = split(Buffer.concat(sink.got));
    expect(body.length).toBeGreaterThan(0);
    expect(complete.subarray(0, body.length).equals(body)).toBe(true);
  });

  it('workers: pieces not done when the signal comes, and this thread wrote on past them', async () => {
    const controller = new AbortController();
    // the signal once the last table's rows are under way, the kept wagtailcore tables read before it:
    // the workers have not started yet (the run never left this turn of the event loop), so no piece
    // is done; this thread is then in another table's COPY than the piece the output stops at
    const lastTable = SAMPLE.indexOf('COPY public.wagtailsearch_query ');
    const sink = new SlowSink();
    const e = await run(chunks(2048, (i) => i * 2048 > lastTable + 100 && controller.abort(stop())), sink, { jobs: 2, localFirstBytes: 0, workersOnly: true, pieceBytes: 1024, signal: controller.signal });
    expect(e).toBeInstanceOf(AnonymiseError);
    const out = Buffer.concat(sink.got);
    const { body, first } = split(out);
    expect(complete.subarray(0, body.length).equals(body)).toBe(true);
    // it stops where the first piece was to go: in a rewritten table's rows, before any kept table's
    expect(body.includes('COPY public.wagtailcore_page ')).toBe(false);
    const header = /COPY \S+ \(([^)]*)\) FROM stdin;\n/g;
    const last = [...body.toString('latin1').matchAll(header)].at(-1)!;
    expect(first).toBe(Array.from({ length: last[1]!.split(', ').length + 1 }, () => '\\N').join('\t'));
  });

  it('workers: a worker that dies mid-run (not an error of ours) still ends the output with the trailer', async () => {
    const dir = scratch('ad-abort-worker-');
    // the rule leaves values as they are, and ends the worker thread at its tenth row
    writeFileSync(join(dir, 't.mjs'), "import { isMainThread } from 'node:worker_threads';\nlet n = 0;\nexport const same = (v) => { if (!isMainThread && ++n > 10) process.exit(7); return v; };\n");
    const rulesFile = join(dir, 'rules.yaml');
    const yaml = readFileSync('rules/examples/council.yaml', 'utf8').replace('first_name: { value: User }', 'first_name: { js: "./t.mjs#same" }');
    expect(yaml).toContain('t.mjs#same');
    writeFileSync(rulesFile, yaml);
    const source = { files: [rulesFile], js: 'run' as const };
    const rules = compileRules(await readRules(source), KEY);
    const one = new SlowSink();
    await rewriteStream(chunks(4096), one, { rules }).done;
    const sink = new SlowSink();
    const e = await rewriteStream(chunks(4096), sink, { rules, rulesSource: source, jobs: 2, localFirstBytes: 0, waitForWorkers: true, workersOnly: true, pieceBytes: 1024 }).done.then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(Error);
    expect(e).not.toBeInstanceOf(AnonymiseError);
    const out = Buffer.concat(sink.got);
    expect(out.toString('latin1')).toMatch(/-- anonymise-dump: ABORTED: internal error\n$/);
    const { body } = split(out);
    expect(Buffer.concat(one.got).subarray(0, body.length).equals(body)).toBe(true);
  });
});
