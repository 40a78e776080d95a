/**
 * One pass over a dump file through the engine, output discarded unless a sink is given: what find,
 * forget and subsets read the file with, as many times as their references need.
 */
import { DumpRewriter, type PlanOverlay } from '../dump/rewriter.js';
import type { DumpObserver } from '../dump/observer.js';
import { plainDump } from '../io/input.js';
import { CompiledRules } from '../rules/rule-compiler.js';

/** The plain text of the dump, from its start, each time it is called (a file: plain, gzip, or an archive printed as pg_restore does). */
export type PassSource = () => AsyncIterable<Buffer>;

export async function runPass(
  source: PassSource,
  o: {
    observer?: DumpObserver;
    overlay?: PlanOverlay;
    rules?: CompiledRules;
    sink?: (b: Buffer) => void;
    onStart?: (rw: DumpRewriter) => void;
    /** a pass after the first, over the same file: kept tables are skipped through, their lines not counted */
    skipKept?: boolean;
  },
): Promise<DumpRewriter> {
  const rw = new DumpRewriter({ rules: o.rules ?? CompiledRules.passthrough(), observer: o.observer, overlay: o.overlay, skipKept: o.skipKept }, o.sink ?? (() => {}));
  o.onStart?.(rw);
  for await (const chunk of plainDump(source())) rw.write(chunk);
  rw.end();
  return rw;
}
