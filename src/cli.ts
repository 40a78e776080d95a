/**
 * The command line: parses options, opens files, wires streams. Everything else is in the library.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { closest } from './rules/syntax.js';
import { writeSmallFileAtomically } from './io/atomic.js';
import { basename, join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { AnonymiseError, EXIT } from './errors.js';
import { DEFAULT_MAX_LINE_BYTES, DEFAULT_MAX_VALUE_BYTES } from './dump/rewriter.js';
import { PII_KINDS, scanDump } from './commands/scan.js';
import { draftRules } from './commands/init.js';
import { statOrNull } from './io/input.js';
const collect = (v: string, prev: string[] = []) => [...prev, v];

const COMMANDS = ['run', 'check', 'scan', 'init', 'find', 'forget', 'verify', 'risk', 'plan', 'assemble', 'help'];


/**
 * `--no-identifier VALUE`: commander reads a `--no-` option as the negation of `--identifier`, so this
 * one is told it is an option of its own, with values of its own.
 */
function notIdentifierOption(): Option {
  const o = new Option('--no-identifier <value>', 'never search for this value, though taken from their rows; repeatable').argParser(collect);
  o.negate = false;
  o.attributeName = () => 'notIdentifier';
  return o;
}
import { readSchemaFile } from './archive/schema-file.js';
import { DEFAULT_SECRET_ENV, VERSION, openPlain, signalStatus, systemError, watchSignals, writeOut, requireStdout, progressLine, type Io } from './cli/io.js';
import { run, type RunFlags } from './cli/run.js';
import { risk, type RiskFlags } from './cli/risk.js';
import { assemble, plan } from './cli/shards.js';
import { check, peopleRequest, scan, unmatchedStatus, type PeopleFlags, type ScanFlags } from './cli/commands.js';

function levelInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 9) throw new AnonymiseError('USAGE', '--compress-level must be an integer from 1 to 9');
  return n;
}

function positiveInt(flag: string, min = 1): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new AnonymiseError('USAGE', min === 1 ? `${flag} must be a positive integer` : `${flag} must be an integer ≥ ${min}`);
    return n;
  };
}

export async function main(argv: string[], io: Io = process as unknown as Io): Promise<number> {
  const say = (s: string) => io.stderr.write(s);
  // the key must never be typed where ps, shell history and CI logs can see it
  if (argv.some((a) => a === '--secret' || a.startsWith('--secret='))) {
    say(`anonymise-dump: --secret is not accepted: put the key in $${DEFAULT_SECRET_ENV} (or name another variable with --secret-env)\n`);
    return EXIT.usage;
  }
  // `scna prod.sql` would run `run` with two inputs: a first word that is no file but close to a
  // command's name is a misspelt command
  const first = argv[0];
  if (first !== undefined && /^[a-z][a-z-]*$/.test(first) && !COMMANDS.includes(first) && !existsSync(first)) {
    const near = closest(first, COMMANDS);
    if (near) {
      say(`anonymise-dump: unknown command ${first} (did you mean ${near}?); see anonymise-dump --help\n`);
      return EXIT.usage;
    }
  }
  let code: number = EXIT.ok;
  const program = new Command('anonymise-dump')
    .description('Anonymise a PostgreSQL plain-format dump as a stream: pg_dump DB | anonymise-dump -r rules.yaml > safe.sql')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => say(s) })
    .showHelpAfterError('(run anonymise-dump --help for usage)');

  program
    .command('run', { isDefault: true })
    .description('rewrite a dump by the rules (the default command)')
    .argument('[input]', 'pg_dump output: plain (or gzip), a custom archive, or a directory archive; - or absent for stdin')
    .option('-r, --rules <file>', 'rules file (YAML); repeatable, later files win', collect)
    .option('--allow-js', 'run the rules\' js: functions (a rules file with js is code: review it as code)')
    .option('-o, --output <file>', 'write here (atomically, mode 0600) instead of stdout')
    .option('--gzip', 'gzip the output')
    .option('--secret-env <name>', 'environment variable holding the pseudonym key', DEFAULT_SECRET_ENV)
    .option('--report <file>', 'write a JSON report per table')
    .option('-q, --quiet', 'no summary on stderr')
    .addOption(new Option('--progress', 'show a progress line on stderr (default: when stderr is a terminal)'))
    .addOption(new Option('--no-progress', 'never show the progress line'))
    .addOption(
      new Option('--max-line-bytes <n>', 'longest statement or COPY line accepted').default(DEFAULT_MAX_LINE_BYTES).argParser(positiveInt('--max-line-bytes', 1024)),
    )
    .addOption(
      new Option('--max-value-bytes <n>', 'largest value a rule may read').default(DEFAULT_MAX_VALUE_BYTES).argParser(positiveInt('--max-value-bytes', 1024)),
    )
    .addOption(new Option('--format <format>', 'output format (default: the input\'s)').choices(['plain', 'custom', 'directory', 'tar']))
    .addOption(new Option('--jobs <n>', 'threads: an archive\'s tables (default: the number of cores), a plain dump\'s rows (default: the number of cores for a file, all but two for a pipe)').argParser(positiveInt('--jobs')))
    .addOption(
      new Option('--compress-level <n>', 'zlib level (1-9) of what this run compresses: --gzip output, an archive\'s rewritten data (default: 1, fast; 6 is pg_dump\'s)').argParser(levelInt),
    )
    .option('--tables <glob>', 'directory archives: rewrite only these tables\' data (schema.table, * and ?); repeatable', collect)
    .option('--schema <file>', 'for a --data-only dump: a pg_dump --schema-only of the same database, whose tables\' columns and types it uses')
    .option('--evidence <file>', 'write a statement of the run (in-toto, in a DSSE envelope): the output\'s and input\'s digests, the rules\' digests, each column\'s rule; needs -o')
    .option('--sign-key <file>', 'sign the --evidence statement with this Ed25519 private key (PEM)')
    .option('--against <url>', 'once written, run the leak check on the output against this source database (exit 1 on a leak; the verdict goes into --evidence)')
    .option('--plan <file>', 'a sharded run: the plan `anonymise-dump plan` wrote; with --shard, writes that shard\'s part to -o DIR')
    .addOption(new Option('--shard <i>', 'which shard of the plan (default: $JOB_COMPLETION_INDEX)').argParser(positiveInt('--shard', 0)))
    .action(async (input: string | undefined, flags: RunFlags) => {
      code = await run(input, flags, io);
    });

  program
    .command('plan')
    .description('cut an archive\'s work into units for N machines: run --plan --shard I on each, then assemble')
    .argument('<input>', 'a custom (-Fc) or directory (-Fd) archive, local or s3://')
    .option('-r, --rules <file>', 'rules file (YAML); repeatable', collect)
    .addOption(new Option('--shards <n>', 'how many shards (machines, or tasks of a batch job)').makeOptionMandatory().argParser(positiveInt('--shards')))
    .requiredOption('-o, --output <file>', 'the plan (JSON)')
    .option('--secret-env <name>', 'environment variable holding the pseudonym key (the same on every machine)', DEFAULT_SECRET_ENV)
    .addOption(new Option('--compress-level <n>', 'zlib level of the rewritten data (as run)').argParser(levelInt))
    .addOption(new Option('--piece-bytes <n>').hideHelp().argParser(positiveInt('--piece-bytes', 64)))
    .option('--allow-js', 'run the rules\' js: functions')
    .option('-q, --quiet', 'no summary on stderr')
    .action(async (input: string, flags: Parameters<typeof plan>[1]) => {
      code = await plan(input, flags, io);
    });

  program
    .command('assemble')
    .description('write the archive from the parts of a sharded run: byte for byte what one machine writes')
    .argument('<parts...>', 'the parts (directories) run --plan --shard wrote, one per shard')
    .requiredOption('--plan <file>', 'the plan the parts were made from')
    .requiredOption('-o, --output <path>', 'the archive: a file (custom) or a new directory (directory)')
    .option('--input <archive>', 'the archive, where it is not where the plan says')
    .option('-r, --rules <file>', 'rules file (default: the plan\'s, checked by digest); repeatable', collect)
    .option('--secret-env <name>', 'environment variable holding the pseudonym key', DEFAULT_SECRET_ENV)
    .option('--report <file>', 'write a JSON report per table (the shards\' counts merged)')
    .option('--allow-js', 'run the rules\' js: functions')
    .option('-q, --quiet', 'no summary on stderr')
    .action(async (parts: string[], flags: Parameters<typeof assemble>[1]) => {
      code = await assemble(parts, flags, io);
    });

  program
    .command('verify')
    .description('check that an output is exactly what a signed --evidence statement names (exit 0), or not (exit 1)')
    .argument('<output>', 'the output file, or directory archive, the statement is about')
    .requiredOption('--evidence <file>', 'the statement (DSSE envelope) run --evidence wrote')
    .requiredOption('--key <file>', 'the signer\'s Ed25519 public key (PEM)')
    .action(async (output: string, flags: { evidence: string; key: string }) => {
      const { readPublicKey, verifyEvidence } = await import('./commands/evidence.js');
      const key = readPublicKey(flags.key);
      if (!statOrNull(output)) throw new AnonymiseError('USAGE', `no such output: ${output}`);
      let env;
      try {
        env = JSON.parse(readFileSync(flags.evidence, 'utf8'));
      } catch (e) {
        throw new AnonymiseError('USAGE', `--evidence ${flags.evidence}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not a JSON statement'}`);
      }
      const v = await verifyEvidence(env, key, output);
      await writeOut(io, v.ok ? `verified: ${v.subjects} file(s) match the signed statement\n` : `NOT VERIFIED: ${v.reason}\n`);
      code = v.ok ? EXIT.ok : EXIT.gaps;
    });

  program
    .command('check')
    .description('list tables and columns of a dump that no rule classifies, and rules that name nothing')
    .argument('[input]', 'pg_dump output: plain (or gzip), a custom archive, or a directory archive; - or absent for stdin')
    .option('-r, --rules <file>', 'rules file (YAML); repeatable', collect)
    .option('--schema <file>', 'for a --data-only dump: a pg_dump --schema-only of the same database, whose tables\' columns and types it uses')
    .addOption(new Option('--preview <n>', 'also show before → after for the first n rows of each table, each column a rule changes (values of the dump: for your own terminal)').argParser(positiveInt('--preview')))
    .option('--secret-env <name>', 'with --preview: environment variable holding the pseudonym key', DEFAULT_SECRET_ENV)
    .action(async (input: string | undefined, flags: { rules?: string[]; schema?: string; preview?: number; secretEnv?: string }) => {
      code = await check(input, flags, io);
    });

  program
    .command('scan')
    .description('count values that look like personal data, per table and column (never shows a value)')
    .argument('[input]', 'pg_dump output: plain (or gzip), a custom archive, or a directory archive; - or absent for stdin')
    .option('--json', 'the full counts as JSON')
    .option('--against <url>', 'leak check: look for the original values of rewritten columns, read from this source database')
    .option('-r, --rules <file>', 'the rules the dump was made with: with --against, what to look for; with --fail-on-pii, columns kept with a reason are reviewed and not counted', collect)
    .option('--strict', 'with --against: count low-entropy matches (postcodes, phone numbers) as leaks too')
    .option('--fail-on-pii [kinds]', `exit 1 if any is found; kinds: ${PII_KINDS.join(',')} (default: all)`)
    .option('--sample-rows <n>', 'read at most n rows of each table', positiveInt('--sample-rows'))
    .option('--schema <file>', 'for a --data-only dump: a pg_dump --schema-only of the same database, whose tables\' columns and types it uses')
    .addOption(new Option('--progress', 'show a progress line on stderr (default: when stderr is a terminal)'))
    .addOption(new Option('--no-progress', 'never show the progress line'))
    .action(async (input: string | undefined, flags: ScanFlags) => {
      code = await scan(input, flags, io);
    });

  program
    .command('risk')
    .description('how identifiable the rows still are: equivalence classes over quasi-identifiers, min k, rows below k, per table')
    .argument('[input]', 'the OUTPUT to measure: plain (or gzip), a custom archive, or a directory archive; - or absent for stdin')
    .option('-r, --rules <file>', 'rules whose tables declare quasi_identifiers: [col, …]', collect)
    .option('--quasi <table=cols>', 'quasi-identifiers of a table, TABLE=COLUMN,COLUMN; repeatable (wins over the rules)', collect)
    .addOption(new Option('--k <n>', 'the class size each row should hide in').default(5).argParser(positiveInt('--k')))
    .addOption(new Option('--min-k <n>', 'exit 1 if a table\'s smallest class is below n').argParser(positiveInt('--min-k')))
    .addOption(new Option('--max-classes <n>', 'classes held in memory per table before they spill to temporary files').default(2_000_000).argParser(positiveInt('--max-classes')))
    .option('--json', 'the report as JSON')
    .addOption(new Option('--progress', 'show a progress line on stderr (default: when stderr is a terminal)'))
    .addOption(new Option('--no-progress', 'never show the progress line'))
    .action(async (input: string | undefined, flags: RiskFlags) => {
      code = await risk(input, flags, io);
    });

  program
    .command('init')
    .description('write a draft rules file for a dump to stdout: every table and column, with suggestions')
    .argument('[input]', 'pg_dump output: plain (or gzip), a custom archive, or a directory archive; - or absent for stdin')
    .option('--sample-rows <n>', 'read at most n rows of each table (default: every row of a dump; 1000 with --db)', positiveInt('--sample-rows'))
    .option('--db <url>', 'read a live database instead of a dump: its catalog, and a sample of each table')
    .option('--schema <file>', 'for a --data-only dump: a pg_dump --schema-only of the same database, whose tables\' columns and types it uses')
    .addOption(new Option('--progress', 'show a progress line on stderr (default: when stderr is a terminal)'))
    .addOption(new Option('--no-progress', 'never show the progress line'))
    .action(async (input: string | undefined, flags: { sampleRows?: number; db?: string; progress?: boolean; schema?: string }) => {
      requireStdout(io, 'the draft rules', false);
      if (flags.db) {
        if (input !== undefined) throw new AnonymiseError('USAGE', 'init takes a dump or --db, not both');
        const sampleRows = flags.sampleRows ?? 1000;
        const { sampleDatabase } = await import('./commands/db-sample.js');
        const res = await sampleDatabase(flags.db, { sampleRows });
        // never echo the URL: it may hold a password
        await writeOut(io, draftRules(res, { source: 'a live database (--db)', sampleRows }));
      } else {
        // the whole table, not its first rows: personal data past row 1,000 counts too
        const sampleRows = flags.sampleRows ?? Infinity;
        const src = await openPlain(input, io);
        const progress = progressLine(io, flags.progress ?? Boolean(io.stderr.isTTY));
        const schema = flags.schema ? await readSchemaFile(flags.schema) : undefined;
        const res = await scanDump(src.stream, { sampleRows, jsonKeys: true, namePairs: true, onProgress: progress.update, schema }).finally(progress.done);
        await writeOut(io, draftRules(res, { source: src.name, sampleRows }));
      }
      code = EXIT.ok;
    });

  const peopleOptions = (c: Command) =>
    c
      .option('--where <condition>', 'schema.table.column=value: the person\'s rows (repeatable)', collect)
      .option('--people <file>', 'one condition per line (blank lines and # comments skipped)')
      .option('-r, --rules <file>', 'rules file (YAML): its relations: (references the schema does not declare, on_forget) and which columns hold personal data; repeatable', collect)
      .option('--secret-env <name>', 'environment variable holding the key for the identifiers\' replacements', DEFAULT_SECRET_ENV)
      .addOption(new Option('--max-key-memory <MiB>', 'memory for one set of row keys before it spills to a temporary file').default(32).argParser(positiveInt('--max-key-memory')))
      .option('--identifier <value>', 'also search for this value in other rows and scrub it (a word too common to be taken from their rows); repeatable', collect)
      .addOption(notIdentifierOption())
      .option('--allow-unmatched', 'exit 0 when a request matches nothing (by default it exits 1, naming the request)')
      .option('--schema <file>', 'for a --data-only dump: a pg_dump --schema-only of the same database, whose tables\' columns, types and foreign keys it uses')
      .option('-q, --quiet', 'no progress or summary on stderr');

  peopleOptions(
    program
      .command('find')
      .description('count one person\'s rows (matching, and referring to them through foreign keys), and their identifiers elsewhere; never shows a value')
      .argument('<input>', 'a dump file: plain (or gzip), a custom archive, or a directory archive (two or more passes: not stdin)'),
  )
    .option('--export <dir>', 'write their rows per table as CSV and JSON (a subject access request: personal data, mode 0600)')
    .option('--json', 'the counts as JSON')
    .action(async (input: string, flags: PeopleFlags & { export?: string; json?: boolean }) => {
      const { findPeople, formatFind } = await import('./commands/people.js');
      const req = await peopleRequest(input === '-' ? [] : [input], flags, io);
      const res = await findPeople(input, { ...req, exportDir: flags.export });
      if (req.onPass) say('\r\x1b[K');
      await writeOut(io, flags.json ? JSON.stringify(res, null, 2) + '\n' : formatFind(res));
      code = unmatchedStatus([res.conditions], flags, io);
    });

  peopleOptions(
    program
      .command('forget')
      .description('write dumps without one person: their rows, the rows that cascade from them, their identifiers in other rows')
      .argument('<inputs...>', 'dump files: plain (or gzip), custom archives, directory archives (two or more passes: not stdin)'),
  )
    .requiredOption('-o, --output <path>', 'the output file (one input), or a directory for many; each written atomically in the input\'s format')
    .option('--cascade', 'references with ON DELETE NO ACTION / RESTRICT that no rule decides remove the rows that use them')
    .option('--report <file>', 'write a JSON report per dump')
    .option('--evidence <file>', 'write a statement of the erasure (in-toto, in a DSSE envelope): the outputs\' and inputs\' digests, rows matched and removed; never the person\'s values')
    .option('--sign-key <file>', 'sign the --evidence statement with this Ed25519 private key (PEM)')
    .action(async (inputs: string[], flags: PeopleFlags & { output: string; cascade?: boolean; report?: string; evidence?: string; signKey?: string }) => {
      if (flags.signKey && !flags.evidence) throw new AnonymiseError('USAGE', '--sign-key signs the statement --evidence FILE writes: give --evidence too');
      const { readSigningKey } = await import('./commands/evidence.js');
      const signKey = flags.signKey ? readSigningKey(flags.signKey) : null;
      const { forgetDump, formatForget } = await import('./commands/people.js');
      const req = await peopleRequest(inputs, flags, io);
      // `-o cleaned/` names a directory: one that does not exist is said to be missing, not renamed onto
      if (/\/$/.test(flags.output) && !statOrNull(flags.output)?.isDirectory()) throw new AnonymiseError('USAGE', `-o ${flags.output}: no such directory (make it first)`);
      const many = inputs.length > 1 || statOrNull(flags.output)?.isDirectory();
      if (inputs.length > 1 && !statOrNull(flags.output)?.isDirectory()) throw new AnonymiseError('USAGE', `-o ${flags.output}: with several dumps, -o names an existing directory`);
      const outputs = inputs.map((i) => (many ? join(flags.output, basename(i.replace(/\/+$/, ''))) : flags.output));
      if (new Set(outputs).size !== outputs.length) throw new AnonymiseError('USAGE', 'two inputs have the same file name: their outputs would collide in -o DIR');
      for (let i = 0; i < inputs.length; i++)
        if (statOrNull(outputs[i]!) && statOrNull(inputs[i]!) && statSync(outputs[i]!).ino === statSync(inputs[i]!).ino)
          throw new AnonymiseError('USAGE', `-o would overwrite the input ${inputs[i]}`);
      const signals = watchSignals(() => {});
      const reports = [];
      try {
        for (let i = 0; i < inputs.length; i++) {
          const rep = await forgetDump(inputs[i]!, outputs[i]!, { ...req, cascade: flags.cascade, signal: signals.signal });
          reports.push(rep);
          if (req.onPass) say('\r\x1b[K');
          if (!flags.quiet) say(formatForget(rep));
        }
      } catch (e) {
        const sig = signals.signalled();
        if (sig) {
          say(`anonymise-dump: interrupted by ${sig}; ${reports.length} of ${inputs.length} dumps written, no partial output\n`);
          return void (code = signalStatus(sig));
        }
        throw e;
      } finally {
        signals.dispose();
        if (flags.report) writeSmallFileAtomically(flags.report, JSON.stringify({ version: 1, tool: 'anonymise-dump', command: 'forget', dumps: reports }, null, 2) + '\n');
      }
      if (flags.evidence) {
        const ev = await import('./commands/evidence.js');
        const { rulesDigests } = await import('./commands/summary.js');
        const statement = ev.buildForgetStatement({
          subjects: await ev.subjectsOfAll(outputs),
          // named as the outputs are: two directory archives' files under their directories' names
          inputs: await ev.subjectsOfAll(inputs),
          version: VERSION,
          // every file the rules read, presets and extends included, as run's statement names them
          rules: rulesDigests(req.rules?.data.files ?? []),
          timestamp: new Date().toISOString(),
          dumps: reports,
        });
        writeSmallFileAtomically(flags.evidence, JSON.stringify(ev.envelope(statement, signKey), null, 2) + '\n');
      }
      code = unmatchedStatus(reports.map((r) => r.conditions), flags, io);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (e instanceof AnonymiseError) {
      say(`anonymise-dump: ${e.message}\n`);
      return e.exitCode;
    }
    // the output could not be written (disk full, a closed file): one line, and the output is not complete
    const sys = e as NodeJS.ErrnoException | null;
    if (typeof sys?.code === 'string' && /^E[A-Z]+$/.test(sys.code) && sys.syscall) {
      say(`anonymise-dump: ${systemError(sys)}\n`);
      return EXIT.input;
    }
    // a bug: say so without echoing anything that could hold data
    say(`anonymise-dump: internal error (${(e as Error)?.name ?? 'unknown'}); set ANONYMISE_DUMP_DEBUG=1 for a stack trace\n`);
    if (io.env.ANONYMISE_DUMP_DEBUG) say(`${(e as Error)?.stack}\n`);
    return EXIT.input;
  }
}
