/**
 * `--evidence FILE` (and `--sign-key FILE`) for run: checked before any work, and written once the
 * output is complete — a signed statement of what was produced from what, by which rules (see
 * commands/evidence.ts). The input's digest is taken as it is read when it is a stream (stdin, a FIFO,
 * s3://), and from the file itself otherwise; the output's from what was written.
 */
import { createHash, type Hash, type KeyObject } from 'node:crypto';
import { AnonymiseError } from '../errors.js';
import type { RulesData } from '../contract/rules-model.js';
import { buildStatement, envelope, readSigningKey, subjectsOf, type LeakVerdict, type Subject } from '../commands/evidence.js';
import type { Report } from '../commands/summary.js';
import { writeSmallFileAtomically } from '../io/atomic.js';
import { isS3Url } from '../io/s3.js';
import { statOrNull } from '../io/input.js';
import { VERSION } from './io.js';

export interface EvidencePlan {
  path: string;
  key: KeyObject | null;
  /** the input's bytes as read, when it is a stream */
  streamed: Hash | null;
}

export function planEvidence(flags: { evidence?: string; signKey?: string; output?: string }, input: string | undefined): EvidencePlan | null {
  if (flags.signKey && !flags.evidence) throw new AnonymiseError('USAGE', '--sign-key signs the statement --evidence FILE writes: give --evidence too');
  if (!flags.evidence) return null;
  if (!flags.output) throw new AnonymiseError('USAGE', '--evidence names the output by its digest: give -o FILE, -o DIR or -o s3://BUCKET/KEY');
  if (flags.evidence === flags.output) throw new AnonymiseError('USAGE', '--evidence and -o name the same file');
  const st = input === undefined || input === '-' || isS3Url(input) ? null : statOrNull(input);
  const stream = st === null || (!st.isFile() && !st.isDirectory());
  return { path: flags.evidence, key: flags.signKey ? readSigningKey(flags.signKey) : null, streamed: stream ? createHash('sha256') : null };
}

export async function writeEvidence(
  plan: EvidencePlan,
  o: { input: string | undefined; output: string; report: Report; rules: RulesData; secret: string | undefined; leakCheck?: LeakVerdict; subjects?: Subject[] },
): Promise<void> {
  const inputName = o.input === undefined || o.input === '-' ? 'stdin' : o.input;
  const digests: Subject[] = plan.streamed ? [{ name: inputName, digest: { sha256: plan.streamed.digest('hex') } }] : await subjectsOf(o.input!);
  const statement = buildStatement({
    // an output in object storage was digested as it was written (o.subjects)
    subjects: o.subjects ?? (await subjectsOf(o.output)),
    input: { name: inputName, digests },
    version: VERSION,
    rules: o.rules,
    secret: o.secret,
    report: o.report,
    leakCheck: o.leakCheck,
  });
  writeSmallFileAtomically(plan.path, JSON.stringify(envelope(statement, plan.key), null, 2) + '\n');
}
