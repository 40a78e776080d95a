/** The command line end to end: real processes, exit codes, files, stdout and stderr. */
import { spawnSync } from 'node:child_process';
import { scratch } from './support/scratch.js';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { pgRestore, restore, psql } from './support/db.js';
import { BIN, NODE_FLAGS, ROOT, SAMPLE, COUNCIL, runCli, waitFor } from './support/cli.js';

const GOLDEN = 'fixtures/sample/expected.sql';
const SECRET = 'sample-secret-k7Q2mZp9xR4v';

const cli = (args: string[], opts: { input?: Buffer | string; env?: Record<string, string> } = {}) => runCli(args, opts);

let tmp: string;
beforeAll(() => {
  tmp = scratch('anonymise-dump-cli-');
});

describe('run', () => {
  it('anonymises the bundled sample as the golden file says (UPDATE_GOLDEN=1 rewrites it)', () => {
    const r = cli(['-q', '-r', COUNCIL, SAMPLE], { env: { ANONYMISE_DUMP_SECRET: SECRET } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    if (process.env.UPDATE_GOLDEN) writeFileSync(GOLDEN, r.stdout);
    expect(r.stdout.equals(readFileSync(GOLDEN))).toBe(true);
  });

  it('output restores and carries none of the sample personal data', () => {
    const out = cli(['-q', '-r', COUNCIL, SAMPLE], { env: { ANONYMISE_DUMP_SECRET: SECRET } }).stdout;
    const r = restore('sample_out', out);
    expect(r.status, r.stderr).toBe(0);
    expect(psql('sample_out', "SELECT count(*) FROM users_user WHERE email <> 'user.' || id || '@example.com' OR first_name <> 'User' OR last_name <> id::text").trim()).toBe('0');
    expect(psql('sample_out', 'SELECT count(*) FROM wagtailforms_formsubmission').trim()).toBe('0');
    const text = out.toString();
    for (const pii of ['@gmail.com', '@hotmail.co.uk', '@outlook.com', '@yahoo.co.uk', 'pbkdf2_sha256', 'HP19 8FF', 'resident']) expect(text).not.toContain(pii);
  });

  it("the -Fc sample (the build's code cache runs on it) is the plain sample's database, table by table", () => {
    expect(restore('sample_plain', readFileSync(SAMPLE)).status).toBe(0);
    const r = pgRestore('sample_fc', join(ROOT, 'fixtures/sample/sample.dump'), ['--no-owner']);
    expect(r.status, r.stderr).toBe(0);
    const tables = (db: string) => psql(db, "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'").trim();
    expect(tables('sample_fc')).toBe(tables('sample_plain'));
    for (const t of tables('sample_plain').split(',')) {
      const digest = (db: string) => psql(db, `SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, E'\\n' ORDER BY x::text)), '') FROM public.${t} x`).trim();
      expect(digest('sample_plain')).toMatch(/^(0:|[1-9]\d*:[0-9a-f]{32})$/);
      expect(digest('sample_fc'), t).toBe(digest('sample_plain'));
    }
  });

  it.each([
    ['stdin and stdout files', `node ${BIN} -q -r ${COUNCIL} < ${SAMPLE} > OUT`],
    ['stdin and stdout pipes', `cat ${SAMPLE} | node ${BIN} -q -r ${COUNCIL} | cat > OUT`],
    ['a file argument, stdout a file', `node ${BIN} -q -r ${COUNCIL} ${SAMPLE} > OUT`],
  ])('gives the golden output with %s (our own read-ahead and write streams on fd 0 and 1)', (_, cmd) => {
    const out = join(tmp, `redirect-${Math.random().toString(36).slice(2)}.sql`);
    const r = spawnSync('/bin/bash', ['--noprofile', '--norc', '-c', `set -o pipefail; ${cmd.replace('OUT', out)}`], { env: { PATH: process.env.PATH, ANONYMISE_DUMP_SECRET: SECRET } });
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(readFileSync(out).equals(readFileSync(GOLDEN))).toBe(true);
  });

  it('writes all of it to a small non-blocking pipe whose reader starts late (EAGAIN waits, exit 0)', () => {
    const out = join(tmp, 'late-reader.sql');
    // fd 1: a 4 KiB pipe, O_NONBLOCK (as another Node process might leave it); the reader sleeps first
    const wrap = `import fcntl, os, sys; fcntl.fcntl(1, fcntl.F_SETPIPE_SZ, 4096); fcntl.fcntl(1, fcntl.F_SETFL, fcntl.fcntl(1, fcntl.F_GETFL) | os.O_NONBLOCK); os.execvp(sys.argv[1], sys.argv[1:])`;
    const cmd = `set -o pipefail; python3 -c '${wrap}' ${process.execPath} ${BIN} -q -r ${COUNCIL} ${SAMPLE} | (sleep 1; cat > ${out})`;
    const r = spawnSync('/bin/bash', ['--noprofile', '--norc', '-c', cmd], { env: { PATH: process.env.PATH, ANONYMISE_DUMP_SECRET: SECRET } });
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(readFileSync(out).equals(readFileSync(GOLDEN))).toBe(true);
  });

  it('ends a stdout file with the ABORTED trailer when the dump is cut off', () => {
    const cut = join(tmp, 'cut.sql');
    const text = readFileSync(SAMPLE, 'utf8');
    writeFileSync(cut, text.slice(0, text.indexOf('COPY public.users_user') + 400));
    const out = join(tmp, 'cut-out.sql');
    const r = spawnSync('/bin/bash', ['--noprofile', '--norc', '-c', `node ${BIN} -q -r ${COUNCIL} < ${cut} > ${out}`], { env: { PATH: process.env.PATH } });
    expect(r.status).toBe(3);
    expect(readFileSync(out, 'utf8')).toMatch(/\nDO \$anonymise_dump\$ BEGIN RAISE EXCEPTION 'anonymise-dump aborted: this dump is incomplete'; END \$anonymise_dump\$;\n-- anonymise-dump: ABORTED: [^\n]+\n$/);
  });

  it('reads stdin and gzip, writes -o atomically with mode 0600, --gzip, and a JSON report', () => {
    const out = join(tmp, 'safe.sql.gz');
    const report = join(tmp, 'report.json');
    const input = gzipSync(readFileSync(SAMPLE));
    const r = cli(['-r', COUNCIL, '-o', out, '--gzip', '--report', report, '-'], { input, env: { ANONYMISE_DUMP_SECRET: SECRET } });
    expect(r.status, r.stderr).toBe(0);
    expect(gunzipSync(readFileSync(out)).equals(readFileSync(GOLDEN))).toBe(true);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const rep = JSON.parse(readFileSync(report, 'utf8'));
    const users = rep.tables.find((t: { table: string }) => t.table === 'public.users_user');
    expect(users).toMatchObject({ action: 'rewrite', rowsIn: 40, rowsOut: 40, rowsDropped: 0, valuesChanged: { email: 40 } });
    // the files' bytes, compressed as they are stored, in and out
    expect(rep.bytesIn).toBe(input.length);
    expect(rep.bytesOut).toBe(statSync(out).size);
    expect(JSON.stringify(rep)).not.toContain(SECRET);
    expect(r.stderr).toMatch(/public\.users_user\s+40\s+40\s+0/);
  });

  it('without a secret, notes that pseudonyms hold for this run only', () => {
    const r = cli(['-r', COUNCIL, SAMPLE]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/ANONYMISE_DUMP_SECRET is not set/);
  });
});

describe('failures', () => {
  const unclassified = () => {
    const rules = join(tmp, 'partial.yaml');
    writeFileSync(rules, 'version: 1\nextends: [django, wagtail]\ntables:\n  users_user: keep\n');
    return rules;
  };

  it('an unclassified table: exit 3, one line naming it, nothing on stdout, no -o file', () => {
    const out = join(tmp, 'never.sql');
    const r = cli(['-r', unclassified(), '-o', out, SAMPLE], { env: { ANONYMISE_DUMP_SECRET: SECRET } });
    expect(r.status).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^anonymise-dump: input line \d+, table public\.blogs_blogalertsubscription: \d+ tables\/columns are not classified/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const s = cli(['-r', unclassified(), SAMPLE], { env: { ANONYMISE_DUMP_SECRET: SECRET } });
    expect(s.status).toBe(3);
    expect(s.stdout.length).toBe(0);
  });

  it('an error after output began ends stdout with the ABORTED marker and a statement that fails a restore', () => {
    // a long comment first, so that output has begun (a chunk has gone out) before the bad row
    const dump = readFileSync(SAMPLE, 'utf8')
      .replace(/^COPY public\.users_user /m, `-- ${'x'.repeat(300_000)}\n$&`)
      .replace(/^(\d+\t!?pbkdf2[^\n]*)$/m, '$1\textra');
    const r = cli(['-r', COUNCIL, '-'], { input: dump, env: { ANONYMISE_DUMP_SECRET: SECRET } });
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/^anonymise-dump: input line \d+, table public\.users_user: row has 12 fields, the COPY header lists 11\n$/);
    const lines = r.stdout.toString().trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(/^-- anonymise-dump: ABORTED: input line \d+, table public\.users_user: row has 12 fields/);
    expect(restore('aborted', r.stdout).status).not.toBe(0);
  });

  it.each([
    [['-r', 'nope.yaml', SAMPLE], 2, /cannot read rules file nope\.yaml/],
    [['-r', COUNCIL, 'missing.sql'], 2, /no such input file: missing\.sql/],
    [['-r', COUNCIL, '--frobnicate', SAMPLE], 2, /unknown option '--frobnicate'/],
    [['--secret', 'hunter2', '-r', COUNCIL, SAMPLE], 2, /--secret is not accepted/],
    [[SAMPLE], 2, /no rules/],
  ])('usage errors exit 2: %j', (args, code, re) => {
    const r = cli(args);
    expect(r.status).toBe(code);
    expect(r.stderr).toMatch(re);
    expect(r.stderr).not.toContain('hunter2');
  });

  it('a bad rules file exits 2 with file:line', () => {
    const rules = join(tmp, 'bad.yaml');
    writeFileSync(rules, 'version: 1\ntables:\n  users_user:\n    columns:\n      email: { fake: internet.emial }\n');
    const r = cli(['-r', rules, SAMPLE]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`anonymise-dump: ${rules}:5: unknown faker method internet.emial\n`);
  });

  it.each([
    ['a custom-format archive of an unknown version', Buffer.concat([Buffer.from('PGDMP'), Buffer.alloc(600, 1)]), /archive version 1\.1\.1 is not supported/],
    ['a custom-format archive cut inside its header', Buffer.concat([Buffer.from('PGDMP'), Buffer.from([1, 14, 0, 4, 8, 1, 0])]), /ends inside its header or table of contents/],
    ['zstd', Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(100)]), /zstd-compressed/],
    ['bzip2', Buffer.from('BZh91AY&SY'), /bzip2-compressed/],
    ['binary noise with NUL', Buffer.from([1, 2, 0, 3]), /NUL byte/],
  ])('%s is refused with exit 3', (_name, input, re) => {
    const r = cli(['-r', COUNCIL, '-'], { input });
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(re);
  });

  it('a directory that is not a directory-format archive is refused with exit 3', () => {
    const r = cli(['-r', COUNCIL, tmp]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/without a toc\.dat: not a pg_dump directory-format archive/);
  });
});

describe('check', () => {
  it('passes the sample with the council rules', () => {
    const r = cli(['check', '-r', COUNCIL, SAMPLE]);
    expect(r.status).toBe(0);
    expect(r.stdout.toString()).toMatch(/13 tables checked: 0 unclassified table\(s\), 0 unclassified column\(s\)/);
  });

  it('lists unclassified tables and columns, unused rules, and exits 1', () => {
    const rules = join(tmp, 'gaps.yaml');
    writeFileSync(rules, 'version: 1\nextends: [django, wagtail]\ntables:\n  users_user: { columns: { id: keep, email: null } }\n  old_table: drop\n');
    const r = cli(['check', '-r', rules, SAMPLE]);
    expect(r.status).toBe(1);
    const out = r.stdout.toString();
    expect(out).toMatch(/^unclassified column public\.users_user\.password  \(input line \d+\)$/m);
    expect(out).toMatch(/^unclassified table  public\.feedback_feedbackcomment/m);
    expect(out).toMatch(/^warning: rule public\.old_table names nothing in this dump$/m);
    expect(out).not.toMatch(/auth_user/);
  });

  // a rule for a table the dump lacks: a typo's meant table would pass under a glob or unknown: keep
  it.each([
    ['a near name', 'unknown: fail', 'public.users_usr: drop', /typo\.yaml:5: table public\.users_usr: the dump has no such table \(did you mean public\.users_user\?\)/, 2],
    ['a far name under unknown: keep', 'unknown: keep', 'public.archive_2019: drop', /typo\.yaml:5: table public\.archive_2019: the dump has no such table, and under unknown: keep the table it was meant for would pass unseen/, 2],
    ['a far name under unknown: fail (a dump of some tables, -t)', 'unknown: fail', 'public.archive_2019: drop', /^warning: rule public\.archive_2019 names nothing in this dump$/m, 0],
  ])('a table rule naming no table of the dump: %s', (_what, unknown, rule, message, status) => {
    const rules = join(tmp, 'typo.yaml');
    writeFileSync(rules, `version: 1\n${unknown}\ntables:\n\n  ${rule}\n`);
    const checked = cli(['check', '-r', COUNCIL, '-r', rules, SAMPLE]);
    expect(checked.status).toBe(status);
    expect(checked.stdout.toString()).toMatch(message);
    const out = join(tmp, 'typo.sql');
    const ran = cli(['-q', '-r', COUNCIL, '-r', rules, '-o', out, SAMPLE], { env: { ANONYMISE_DUMP_SECRET: SECRET } });
    expect(ran.status).toBe(status);
    if (status !== 0) {
      expect(ran.stderr.trim()).toMatch(message);
      expect(ran.stdout.length).toBe(0);
      expect(existsSync(out)).toBe(false);
    }
  });
});

describe('progress', () => {
  it('draws a progress line when stderr is a terminal, and none in a pipe', () => {
    const out = join(tmp, 'progress.sql');
    // `script` gives the command a pseudo-terminal and copies what it shows to our stdout
    const tty = spawnSync('script', ['-qefc', `${process.execPath} ${BIN} -r ${COUNCIL} -o ${out} ${SAMPLE}`, '/dev/null'], {
      env: { PATH: process.env.PATH, ANONYMISE_DUMP_SECRET: SECRET, TERM: 'dumb' },
    });
    expect(tty.status).toBe(0);
    const shown = tty.stdout.toString();
    expect(shown).toMatch(/\r\x1b\[K0\.0 MB \/ 0\.0 MB \(100%, ETA 0 s\)\s+\d+ MB\/s/);
    expect(shown).toContain('\r\x1b[K'); // cleared before the summary
    const piped = cli(['-r', COUNCIL, '-o', out, SAMPLE], { env: { ANONYMISE_DUMP_SECRET: SECRET } });
    expect(piped.status).toBe(0);
    expect(piped.stderr).not.toMatch(/MB\/s|\x1b\[K/);
    const forced = cli(['--progress', '-r', COUNCIL, '-o', out, SAMPLE], { env: { ANONYMISE_DUMP_SECRET: SECRET } });
    expect(forced.stderr).toMatch(/MB\/s/);
    const off = spawnSync('script', ['-qefc', `${process.execPath} ${BIN} --no-progress -r ${COUNCIL} -o ${out} ${SAMPLE}`, '/dev/null'], {
      env: { PATH: process.env.PATH, ANONYMISE_DUMP_SECRET: SECRET, TERM: 'dumb' },
    });
    expect(off.stdout.toString()).not.toMatch(/MB\/s/);
  });

  it('a file on stdin (`< dump.sql`) is read as a file: its size is known (the progress line has it), the output the same', () => {
    const ours = `${process.execPath} ${NODE_FLAGS.join(' ')} ${BIN} --progress -r ${COUNCIL}`;
    const sh = (line: string) => spawnSync('sh', ['-c', line], { env: { PATH: process.env.PATH, ANONYMISE_DUMP_SECRET: SECRET }, maxBuffer: 1 << 26 });
    const redirected = sh(`${ours} < ${SAMPLE}`);
    const catted = sh(`cat ${SAMPLE} | ${ours}`);
    expect(redirected.status).toBe(0);
    expect(catted.status).toBe(0);
    const size = (statSync(SAMPLE).size / 1e6).toFixed(1);
    expect(redirected.stderr.toString()).toContain(` / ${size} MB (100%`);
    expect(catted.stderr.toString()).toMatch(/MB\/s/);
    expect(catted.stderr.toString()).not.toContain('%');
    expect(redirected.stdout.equals(catted.stdout)).toBe(true);
  });
});

describe('secrets and files in messages', () => {
  const ENV_SECRET = 'pgpassword-Zq8vX2kL9mT4';
  it.each([
    ['shorter than 16 bytes', 'council2024'],
    ['a single space', ' '],
    ['a repeated pattern', 'council2024council2024'],
    ['a word and a number', 'Councilkey2024'],
    ['few distinct characters', 'aaaaaaaaaaaabbbbbbbbbb'],
  ])('refuses a weak key (%s) without printing it, and says how to make one', (_why, key) => {
    const r = cli(['-r', COUNCIL, SAMPLE], { env: { ANONYMISE_DUMP_SECRET: key } });
    expect(r.status).toBe(2);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toMatch(/too weak.*openssl rand -base64 32/);
    if (key.trim()) expect(r.stderr).not.toContain(key);
  });

  it.each([
    ['-r /proc/self/environ', () => ['-r', '/proc/self/environ', SAMPLE]],
    ['extends: [/proc/self/environ]', () => {
      const f = join(tmp, 'environ.yaml');
      writeFileSync(f, 'version: 1\nextends: [/proc/self/environ]\n');
      return ['-r', f, SAMPLE];
    }],
    ['extends: a directory', () => {
      const f = join(tmp, 'dir.yaml');
      writeFileSync(f, `version: 1\nextends: [${tmp}/]\n`);
      return ['-r', f, SAMPLE];
    }],
    ['extends: /dev/zero', () => {
      const f = join(tmp, 'zero.yaml');
      writeFileSync(f, 'version: 1\nextends: [/dev/zero]\n');
      return ['-r', f, SAMPLE];
    }],
    ['-o a directory', () => ['-r', COUNCIL, '-o', tmp, SAMPLE]],
  ])('%s: a one-line usage error, never the file or the environment', (_name, args) => {
    const r = spawnSync(process.execPath, [BIN, ...args()], { env: { PATH: process.env.PATH, ANONYMISE_DUMP_SECRET: SECRET, PGPASSWORD: ENV_SECRET }, timeout: 20_000 });
    const stderr = r.stderr.toString();
    expect(r.status).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).not.toContain(ENV_SECRET);
    expect(stderr).not.toContain(SECRET);
    expect(stderr).not.toMatch(/internal error|at .*\.js:\d+/);
  });

  it('an unknown key that looks like a name is named; file text that does not is not', () => {
    const typo = join(tmp, 'typo.yaml');
    writeFileSync(typo, 'version: 1\ntables:\n  users_user: { columns: { email: { fake: internet.email, valeu: x } } }\n');
    expect(cli(['check', '-r', typo, SAMPLE]).stderr).toMatch(/typo\.yaml:3: .*unknown key valeu/);
    const pasted = join(tmp, 'pasted.yaml');
    writeFileSync(pasted, `version: 1\nPGPASSWORD=${ENV_SECRET}: 1\n`);
    const r = cli(['check', '-r', pasted, SAMPLE]);
    expect(r.status).toBe(2);
    expect(r.stderr).not.toContain(ENV_SECRET);
  });
});

describe('--secret-env', () => {
  const KEY_TEXT = 'Zq8vK2mPx7TfR4nLw9Hs';
  it.each([
    // a name that is not a variable's (the key pasted in its place): refused, never repeated
    [['--secret-env', KEY_TEXT + '=='], {}, 2, /--secret-env takes the name of an environment variable/],
    [['--secret-env', `key ${KEY_TEXT}`], {}, 2, /--secret-env takes the name of an environment variable/],
    // a variable named on the command line and unset, or empty: an error, not a random key
    [['--secret-env', 'MY_ANON_KEY'], {}, 2, /\$MY_ANON_KEY \(--secret-env\) is not set, or empty/],
    [['--secret-env', 'MY_ANON_KEY'], { MY_ANON_KEY: '' }, 2, /\$MY_ANON_KEY \(--secret-env\) is not set, or empty/],
    // the default unset: a random key, and the note is said even under -q
    [[], {}, 0, /note: \$ANONYMISE_DUMP_SECRET is not set; pseudonyms use a random key/],
    [['--secret-env', 'MY_ANON_KEY'], { MY_ANON_KEY: KEY_TEXT }, 0, /^$/],
  ] as const)('%j with %j: exit %i', (args, env, status, message) => {
    const r = cli(['-q', '-r', COUNCIL, ...args, SAMPLE], { env: env as Record<string, string> });
    expect(r.status).toBe(status);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toContain(KEY_TEXT);
    if (status !== 0) expect(r.stdout.length).toBe(0);
  });

  it('find and forget read the key the same way', () => {
    const r = cli(['find', '--where', 'public.users_user.id=1', '--secret-env', 'NOT_SET_HERE', SAMPLE]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/\$NOT_SET_HERE \(--secret-env\) is not set/);
  });
});

it('--version prints the package version', () => {
  const r = cli(['--version']);
  expect(r.status).toBe(0);
  expect(r.stdout.toString().trim()).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
});

describe('signals', () => {
  // the sample up to the first user, then that row again and again: output flows (rows are being
  // rewritten and written) while the run waits for more input, as behind a pg_dump still writing
  const sample = readFileSync(SAMPLE, 'latin1');
  const firstRow = sample.indexOf('\n', sample.indexOf('COPY public.users_user ')) + 1;
  const row = sample.slice(firstRow, sample.indexOf('\n', firstRow) + 1);
  const head = Buffer.from(sample.slice(0, firstRow) + row.repeat(Math.ceil((512 * 1024) / row.length)), 'latin1');
  /** Starts a run fed `head`, then sends `sig` once it is under way: output has begun (stdout), or the temporary file exists (-o DIR/out.sql). */
  async function interrupted(sig: NodeJS.Signals, extra: string[], dir?: string) {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [BIN, '-q', '-r', COUNCIL, ...extra, '-'], { env: { PATH: process.env.PATH, ANONYMISE_DUMP_SECRET: SECRET } });
    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    let closed = false;
    const code = new Promise<number | null>((r) => child.on('close', (c) => ((closed = true), r(c))));
    child.stdin.on('error', () => {}); // the child may be gone before all of head is taken
    child.stdin.write(head);
    // pg_dump is still writing: the input stays open
    await waitFor(() => closed || (dir ? readdirSync(dir).length > 0 : out.length > 0), 'the run to be under way');
    child.kill(sig);
    const status = await code;
    child.stdin.destroy();
    return { code: status, stdout: Buffer.concat(out).toString(), stderr: err };
  }

  it.each(['SIGTERM', 'SIGINT', 'SIGHUP'] as const)('%s while writing to stdout: the output ends with the ABORTED trailer and does not restore', async (sig) => {
    const r = await interrupted(sig, []);
    expect(r.code).toBeGreaterThan(128);
    expect(r.stdout).toMatch(/-- anonymise-dump: ABORTED: interrupted by SIG[A-Z]+\n$/);
    expect(r.stdout).toContain("RAISE EXCEPTION 'anonymise-dump aborted");
    const db = `sig_${sig.toLowerCase()}`;
    expect(restore(db, Buffer.from(r.stdout)).status).not.toBe(0);
  });

  it.each(['SIGHUP', 'SIGQUIT', 'SIGTERM'] as const)('%s with -o: no output file and no temporary file left', async (sig) => {
    const dir = mkdtempSync(join(tmp, 'sig-'));
    const r = await interrupted(sig, ['-o', join(dir, 'out.sql')], dir);
    expect(r.code).toBeGreaterThan(128);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('an output that would do harm', () => {
  it('-o onto the input is refused, and the input is left as it was (also through another name)', () => {
    const dir = mkdtempSync(join(tmp, 'self-'));
    const input = join(dir, 'prod.sql');
    writeFileSync(input, readFileSync(SAMPLE));
    symlinkSync(input, join(dir, 'link.sql'));
    for (const out of [input, join(dir, 'link.sql')]) {
      const r = cli(['-q', '-r', COUNCIL, '-o', out, input], { env: { ANONYMISE_DUMP_SECRET: SECRET } });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/is the input: it would be replaced/);
    }
    expect(readFileSync(input).equals(readFileSync(SAMPLE))).toBe(true);
  });

  it('-o NAME.gz without --gzip is refused rather than writing plain text under a gzip name; with --gzip it is gzip', () => {
    const dir = mkdtempSync(join(tmp, 'gz-'));
    const r = cli(['-q', '-r', COUNCIL, '-o', join(dir, 'safe.sql.gz'), SAMPLE], { env: { ANONYMISE_DUMP_SECRET: SECRET } });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/ends in \.gz, and the output is plain SQL: give --gzip/);
    expect(readdirSync(dir)).toEqual([]);
    const ok = cli(['-q', '-r', COUNCIL, '--gzip', '-o', join(dir, 'safe.sql.gz'), SAMPLE], { env: { ANONYMISE_DUMP_SECRET: SECRET } });
    expect(ok.status, ok.stderr).toBe(0);
    expect(readFileSync(join(dir, 'safe.sql.gz')).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
  });
});

describe('a misspelt command', () => {
  it.each([
    ['scna', 'scan'],
    ['chekc', 'check'],
    ['frget', 'forget'],
    ['inti', 'init'],
  ])('%s: unknown command, did you mean %s? (exit 2)', (typo, want) => {
    const r = cli([typo, SAMPLE]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`anonymise-dump: unknown command ${typo} (did you mean ${want}?); see anonymise-dump --help\n`);
  });
  it('a word far from every command is taken as an input file that does not exist', () => {
    const r = cli(['-r', COUNCIL, 'production']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no such input file: production/);
  });
});

describe('a FIFO or process substitution as INPUT', () => {
  it('is read like stdin: <(cat dump) gives the same output as the file', () => {
    const want = cli(['-q', '-r', COUNCIL, SAMPLE], { env: { ANONYMISE_DUMP_SECRET: SECRET } });
    const r = spawnSync('/bin/bash', ['--noprofile', '--norc', '-c', `node ${BIN} -q -r ${COUNCIL} <(cat ${SAMPLE})`], { env: { PATH: process.env.PATH, ANONYMISE_DUMP_SECRET: SECRET }, maxBuffer: 1 << 26 });
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(r.stdout.equals(want.stdout)).toBe(true);
  });

  it('find, forget and subsets, which read a dump twice, say to save it to a file first', () => {
    const r = spawnSync('/bin/bash', ['--noprofile', '--norc', '-c', `node ${BIN} find --where public.users_user.id=1 <(cat ${SAMPLE})`], { env: { PATH: process.env.PATH, ANONYMISE_DUMP_SECRET: SECRET } });
    expect(r.status).toBe(2);
    expect(r.stderr.toString()).toMatch(/is a pipe or a device, and this reads the dump two or more times .*: save it to a file first/);
  });
});

describe('more misuse, each a clear word', () => {
  it('forget -o DIR/ when DIR does not exist: no such directory, nothing written', () => {
    const dir = mkdtempSync(join(tmp, 'nodir-'));
    const r = cli(['forget', '--where', 'public.users_user.id=1', '-r', COUNCIL, '-o', join(dir, 'cleaned') + '/', SAMPLE], { env: { ANONYMISE_DUMP_SECRET: SECRET } });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/cleaned\/: no such directory \(make it first\)/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a terminal on stdin gets a hint instead of a silent wait', async () => {
    const { main } = await import('../src/cli.js');
    const { Readable, PassThrough } = await import('node:stream');
    const stdin = Object.assign(Readable.from([readFileSync(SAMPLE)]), { isTTY: true });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let err = '';
    stderr.on('data', (c: Buffer) => (err += c.toString()));
    stdout.resume();
    const code = await main(['scan'], { stdin, stdout, stderr, env: {} });
    expect(code).toBe(0);
    expect(err).toMatch(/reading the dump from the terminal: pipe pg_dump into it, or give a file \(Ctrl-D ends the input\)/);
  });
});
