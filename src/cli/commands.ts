/**
 * `check`, `scan` (and its leak check), and the request `find` and `forget` read: each opens its
 * input, calls the library and formats what it returns.
 */
import { existsSync, readFileSync } from 'node:fs';
import { checkDump, compileRules, readRules } from '../engine/run.js';
import { AnonymiseError, EXIT } from '../errors.js';
import { PII_KINDS, foundAny, formatScan, reviewedColumns, scanDump, type PiiKind, type ScanResult } from '../commands/scan.js';
import { readSchemaFile } from '../archive/schema-file.js';
import { familyNames } from '../pseudonym/family-names.js';
import { openPlain, progressLine, secretFrom, writeOut, type Io } from './io.js';

export async function check(input: string | undefined, flags: { rules?: string[]; schema?: string; preview?: number; secretEnv?: string }, io: Io): Promise<number> {
  if (!flags.rules?.length) throw new AnonymiseError('USAGE', 'no rules: give at least one -r RULES.yaml');
  if (flags.preview !== undefined && (input === undefined || input === '-')) throw new AnonymiseError('USAGE', '--preview reads the dump a second time: give a file, not stdin');
  const data = await readRules({ files: flags.rules, js: 'skip' });
  const rules = compileRules(data, 'check');
  const schema = flags.schema ? await readSchemaFile(flags.schema) : undefined;
  const src = await openPlain(input, io);
  const res = await checkDump(src.stream, rules, { schema });
  const out: string[] = [];
  const policy = rules.unknown;
  for (const g of res.gaps)
    out.push(`unclassified ${g.column ? 'column' : 'table '} ${g.column ? `${g.table}.${g.column}` : g.table}  (input line ${g.line})`);
  for (const e of res.ruleErrors) out.push(`rule error: ${e}`);
  for (const f of res.outside) out.push(`outside the rows: ${f.object || 'a statement'} (input line ${f.line}): ${f.message}`);
  for (const p of res.restore) out.push(`restore ${p.severity}: ${p.column ? `${p.table}.${p.column}` : p.table}: ${p.message}`);
  for (const u of res.unused) out.push(`warning: rule ${u} names nothing in this dump`);
  const tables = res.gaps.filter((g) => !g.column).length;
  const cols = res.gaps.length - tables;
  out.push(
    `${res.tables} tables checked: ${tables} unclassified table(s), ${cols} unclassified column(s)` +
      (res.gaps.length && policy !== 'fail' ? ` (unknown: ${policy} applies to them)` : ''),
  );
  if (flags.preview !== undefined && !res.ruleErrors.length) {
    const { previewDump, formatPreview } = await import('../commands/preview.js');
    // with the key, the pseudonyms a run would write; without it, pseudonyms of a random key
    const secret = io.env[flags.secretEnv ?? 'ANONYMISE_DUMP_SECRET'] ? secretFrom(flags.secretEnv ?? 'ANONYMISE_DUMP_SECRET', io, 'pseudonyms') : undefined;
    const again = await openPlain(input, io);
    out.push(formatPreview(await previewDump(again.stream, data, { rows: flags.preview, secret, schema }), flags.preview).trimEnd());
  }
  await writeOut(io, out.join('\n') + '\n');
  if (res.ruleErrors.length) return EXIT.usage;
  return res.gaps.some((g) => g.severity === 'fatal') || res.outside.length > 0 || res.restore.some((p) => p.severity === 'error') ? EXIT.gaps : EXIT.ok;
}

export interface PeopleFlags {
  where?: string[];
  people?: string;
  rules?: string[];
  secretEnv: string;
  maxKeyMemory: number;
  quiet?: boolean;
  identifier?: string[];
  notIdentifier?: string[];
  allowUnmatched?: boolean;
  /** a --data-only dump's schema */
  schema?: string;
}

/** The conditions and rules of find / forget. Two or more passes read each input: a pipe cannot be read twice. */
export async function peopleRequest(inputs: string[], flags: PeopleFlags, io: Io): Promise<import('../commands/people.js').PeopleRequest> {
  const { parseCondition } = await import('../relations/people.js');
  if (inputs.length === 0 || inputs.includes('-'))
    throw new AnonymiseError('USAGE', 'find and forget read a dump two or more times (its foreign keys come after its data): give a file, not stdin (save the pipe to a file first)');
  const conditions = (flags.where ?? []).map((w, i) => parseCondition(w, `--where ${i + 1}`));
  if (flags.people) {
    if (!existsSync(flags.people)) throw new AnonymiseError('USAGE', `no such file: ${flags.people}`);
    readFileSync(flags.people, 'utf8')
      .split(/\r?\n/)
      .forEach((line, i) => {
        if (line.trim() === '' || line.trimStart().startsWith('#')) return;
        conditions.push(parseCondition(line.trim(), `${flags.people} line ${i + 1}`));
      });
  }
  if (conditions.length === 0) throw new AnonymiseError('USAGE', 'say whose rows: --where schema.table.column=value, or --people FILE');
  const rules = flags.rules?.length ? compileRules(await readRules({ files: flags.rules, js: 'skip' })) : undefined;
  const secret = secretFrom(flags.secretEnv, io, "the identifiers' replacements");
  const progress = !flags.quiet && Boolean(io.stderr.isTTY);
  return {
    conditions,
    rules,
    secret,
    schema: flags.schema ? await readSchemaFile(flags.schema) : undefined,
    maxKeyBytes: flags.maxKeyMemory * 1024 * 1024,
    addIdentifiers: flags.identifier,
    dropIdentifiers: flags.notIdentifier,
    onPass: progress ? (n, tables) => io.stderr.write(`\r\x1b[Kpass ${n}: ${tables === 'all' ? 'every table' : `${tables} table${tables === 1 ? '' : 's'}`}`) : undefined,
  };
}

/**
 * A subset in the rules: the rows to keep, found in passes over the input before the run writes a byte.
 * A pipe cannot be read twice.
 */
export interface ScanFlags {
  json?: boolean;
  failOnPii?: string | boolean;
  progress?: boolean;
  schema?: string;
  sampleRows?: number;
  against?: string;
  rules?: string[];
  strict?: boolean;
}

/** `scan --against URL -r RULES`: are original values of rewritten columns anywhere in the dump? */
export async function leaks(input: string | undefined, flags: ScanFlags, io: Io): Promise<number> {
  if (!flags.rules?.length) throw new AnonymiseError('USAGE', 'scan --against needs the rules the dump was made with (-r RULES.yaml)');
  const src = await openPlain(input, io);
  const { report, leaked } = await leakVerdict(src.stream, flags.rules, flags.against!, flags.strict ?? false);
  const cols = Object.entries(report.columns);
  const lines: string[] = [];
  if (flags.json) lines.push(JSON.stringify(report, null, 2));
  else {
    for (const [col, r] of cols) {
      if (r.found > 0) lines.push(`LEAK ${col}: ${r.found} of ${r.originals} original values appear in the dump (in ${r.where.join(', ')}${r.where.length >= 3 ? ', …' : ''})`);
      if (r.possible > 0)
        lines.push(`${flags.strict ? 'LEAK' : 'possible'} ${col}: ${r.possible} low-entropy original values (postcodes, phone numbers, short values) appear in the dump${flags.strict ? '' : ': may be chance, such as a venue\'s postcode (--strict counts them)'}`);
    }
    const total = cols.reduce((n, [, r]) => n + r.originals, 0);
    lines.push(`checked ${report.valuesChecked} values of the dump against ${total} original values of ${cols.length} rewritten or dropped columns: ${leaked.length ? 'LEAKS FOUND' : 'no leak found'}`);
  }
  await writeOut(io, lines.join('\n') + '\n');
  return leaked.length ? EXIT.gaps : EXIT.ok;
}

/** The leak check of `dump` made with `rulesFiles`, against the source database: its report and the columns that leak. */
export async function leakVerdict(dump: AsyncIterable<Buffer>, rulesFiles: string[], against: string, strict: boolean): Promise<{ report: import('../commands/leak-check.js').LeakReport; leaked: string[] }> {
  const rules = compileRules(await readRules({ files: rulesFiles, js: 'skip' }), 'leak-check');
  // a fake name can equal a real one by chance: names from faker's lists are not counted as leaks
  const fake = await import('../pseudonym/fake.js');
  await fake.loadLocales(['en', 'en_GB']);
  const ignore = new Set<string>();
  const names = { first: new Set<string>(), last: new Set<string>(), family: familyNames() };
  for (const loc of ['en', 'en_GB']) {
    const n = fake.personNames(loc);
    for (const x of [...n.first, ...n.last]) ignore.add(x);
    n.first.forEach((x) => names.first.add(x));
    n.last.forEach((x) => names.last.add(x));
  }
  const { leakCheck } = await import('../commands/leak-check.js');
  const report = await leakCheck(dump, rules, against, { ignore, names });
  const leaked = Object.entries(report.columns)
    .filter(([, r]) => r.found > 0 || (strict && r.possible > 0))
    .map(([c]) => c);
  return { report, leaked };
}

export async function scan(input: string | undefined, flags: ScanFlags, io: Io): Promise<number> {
  if (flags.against) return leaks(input, flags, io);
  let gate: PiiKind[] = [];
  if (flags.failOnPii !== undefined && flags.failOnPii !== false) {
    gate = flags.failOnPii === true ? [...PII_KINDS] : (flags.failOnPii.split(',').map((k) => k.trim()) as PiiKind[]);
    const bad = gate.filter((k) => !PII_KINDS.includes(k));
    if (bad.length) throw new AnonymiseError('USAGE', `--fail-on-pii: unknown kind ${bad[0]} (expected ${PII_KINDS.join(', ')})`);
  }
  // the rules the output was made with: columns they keep with a reason were reviewed, and the gate
  // reports them without failing on them
  const rules = flags.rules?.length ? compileRules(await readRules({ files: flags.rules, js: 'skip' }), 'scan') : null;
  const src = await openPlain(input, io);
  const progress = progressLine(io, flags.progress ?? Boolean(io.stderr.isTTY));
  const schema = flags.schema ? await readSchemaFile(flags.schema) : undefined;
  const res = await scanDump(src.stream, { sampleRows: flags.sampleRows, onProgress: progress.update, schema }).finally(progress.done);
  const reviewed = rules ? reviewedColumns(res, rules) : new Set<string>();
  await writeOut(io, flags.json ? JSON.stringify({ ...res, reviewed: [...reviewed] }, null, 2) + '\n' : formatScan(res));
  if (!gate.length) return EXIT.ok;
  const seen = [...reviewed].filter((c) => foundAny({ ...res, tables: pick(res.tables, c), objects: {} }, gate));
  if (seen.length) io.stderr.write(`anonymise-dump: ${seen.length} column(s) the rules keep with a reason (reviewed) hold what --fail-on-pii looks for; not counted\n`);
  if (foundAny(res, gate, reviewed)) {
    io.stderr.write(`anonymise-dump: scan found personal data (${gate.filter((k) => foundAny(res, [k], reviewed)).join(', ')})\n`);
    return EXIT.gaps;
  }
  return EXIT.ok;
}

/**
 * Every request is answered: one that matched nothing in any input (a typo, or someone the dumps never
 * held) is named by where it was given, never by its value, and the exit status says so unless the user
 * allows it.
 */
export function unmatchedStatus(conditions: { source: string; rows: number }[][], flags: PeopleFlags, io: Io): number {
  const sources = conditions[0]?.map((c) => c.source) ?? [];
  const unmatched = sources.filter((_, i) => conditions.every((list) => list[i]!.rows === 0));
  if (unmatched.length === 0 || flags.allowUnmatched) return EXIT.ok;
  io.stderr.write(
    `anonymise-dump: ${unmatched.length} of ${sources.length} request${sources.length === 1 ? '' : 's'} matched nothing (${unmatched.slice(0, 5).join(', ')}${unmatched.length > 5 ? ', …' : ''}): check ${unmatched.length === 1 ? 'it' : 'them'}, or give --allow-unmatched\n`,
  );
  return EXIT.gaps;
}

/** The one column "table.column" of a scan's tables. */
function pick(tables: ScanResult['tables'], column: string): ScanResult['tables'] {
  const at = column.lastIndexOf('.');
  const t = column.slice(0, at);
  const c = column.slice(at + 1);
  const s = tables[t]?.[c];
  return s ? { [t]: { [c]: s } } : {};
}
