/** `anonymise-dump risk`: the command line's side of commands/risk.ts. */
import { AnonymiseError, EXIT } from '../errors.js';
import { readRules } from '../engine/run.js';
import { formatRisk, riskOf } from '../commands/risk.js';
import { openPlain, progressLine, writeOut, type Io } from './io.js';

export interface RiskFlags {
  rules?: string[];
  quasi?: string[];
  k: number;
  minK?: number;
  json?: boolean;
  maxClasses?: number;
  progress?: boolean;
}

/** table → quasi-identifiers: from the rules' `quasi_identifiers`, then `--quasi TABLE=a,b` (which wins). */
async function quasiIdentifiers(flags: RiskFlags): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (flags.rules?.length) {
    const data = await readRules({ files: flags.rules, js: 'skip' });
    for (const [pattern, rule] of data.tables) {
      if (rule.kind !== 'columns' || !rule.quasiIdentifiers) continue;
      if (/[*?]/.test(pattern)) throw new AnonymiseError('RULES', `quasi_identifiers on ${pattern}: name one table, not a pattern (risk groups each table's rows by its own columns)`);
      out.set(pattern, rule.quasiIdentifiers);
    }
  }
  for (const q of flags.quasi ?? []) {
    const m = /^([^=]+)=(.+)$/.exec(q);
    if (!m) throw new AnonymiseError('USAGE', '--quasi takes TABLE=COLUMN,COLUMN (public.patient=postcode,birth_date,sex)');
    const table = m[1]!.includes('.') ? m[1]! : `public.${m[1]}`;
    out.set(table, m[2]!.split(',').map((c) => c.trim()).filter(Boolean));
  }
  if (out.size === 0) throw new AnonymiseError('USAGE', 'risk needs quasi-identifiers: quasi_identifiers: [col, …] on a table of the rules (-r), or --quasi TABLE=COLUMN,COLUMN');
  return out;
}

export async function risk(input: string | undefined, flags: RiskFlags, io: Io): Promise<number> {
  const quasi = await quasiIdentifiers(flags);
  const src = await openPlain(input, io);
  const progress = progressLine(io, flags.progress ?? Boolean(io.stderr.isTTY));
  const report = await riskOf(src.stream, quasi, { k: flags.k, maxClasses: flags.maxClasses, onProgress: progress.update }).finally(progress.done);
  await writeOut(io, flags.json ? JSON.stringify(report, null, 2) + '\n' : formatRisk(report));
  if (flags.minK !== undefined && report.tables.some((t) => t.rows > 0 && t.min_k < flags.minK!)) {
    io.stderr.write(`anonymise-dump: a table's smallest class is below ${flags.minK} rows (--min-k)\n`);
    return EXIT.gaps;
  }
  return EXIT.ok;
}
