/**
 * Evidence a data-protection officer can file: an in-toto Statement (v1) about one run, in a DSSE
 * envelope signed with Ed25519 when a key is given. Its subject is the output (each file of a directory
 * archive) by sha256; its predicate says what produced it and how: the tool's version, the input's
 * digest, the rules files' digests, a one-way id of the pseudonym key (never the key), per table and
 * column the rule kind and what it leaves of a value, row counts, the policy outside the rows, and the
 * leak check's verdict when one ran. Never a value from the dump.
 *
 * `verify` takes the envelope, the signer's public key and the output: exit 0 when the signature holds
 * and every subject's digest matches, 1 otherwise.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { createReadStream, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { AnonymiseError } from '../errors.js';
import type { ColumnRule, RulesData, TableRule } from '../contract/rules-model.js';
import { ruleKind } from '../rules/kinds/registry.js';
import type { Report } from './summary.js';

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const PREDICATE_TYPE = 'https://github.com/anonymise-dump/anonymise-dump/evidence/v1';
export const PAYLOAD_TYPE = 'application/vnd.in-toto+json';

export interface Subject {
  name: string;
  digest: { sha256: string };
}

export interface Envelope {
  payloadType: string;
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

/** sha256 of a file, streamed. */
export async function fileSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** A file as one subject, a directory (archive) as one subject per file, by its name in the directory. */
export async function subjectsOf(path: string): Promise<Subject[]> {
  if (!statSync(path).isDirectory()) return [{ name: basename(path), digest: { sha256: await fileSha256(path) } }];
  const out: Subject[] = [];
  // a directory's files at any depth (forget -o DIR holds directory archives), by their path in it
  const walk = async (dir: string, prefix: string): Promise<void> => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) await walk(full, `${prefix}${name}/`);
      else out.push({ name: prefix + name, digest: { sha256: await fileSha256(full) } });
    }
  };
  await walk(path, '');
  return out;
}

/** The pseudonym key's id: a keyed one-way digest, enough to tell two runs' keys apart, never to find it. */
export function pseudonymKeyId(secret: string | undefined): string {
  if (!secret) return 'random (this run only)';
  return createHash('sha256').update('anonymise-dump pseudonym key id\0').update(secret).digest('hex').slice(0, 32);
}

/** A signer's key id: sha256 of its public key (SubjectPublicKeyInfo, DER), as DSSE's keyid. */
export function signerKeyId(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex');
}

/** DSSE's pre-authentication encoding: what is signed. */
export function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType);
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

/** An Ed25519 private key from a PEM file; anything else is refused without echoing the file. */
export function readSigningKey(path: string): KeyObject {
  return readEd25519(path, '--sign-key', createPrivateKey, 'not a private key in PEM (make one with: openssl genpkey -algorithm ed25519 -out key.pem)', 'the evidence is signed with Ed25519 (openssl genpkey -algorithm ed25519)');
}

/** An Ed25519 public key from a PEM file, for verify; likewise. */
export function readPublicKey(path: string): KeyObject {
  return readEd25519(path, '--key', createPublicKey, 'not a public key in PEM (openssl pkey -in key.pem -pubout -out key.pub)', 'the evidence is signed with Ed25519');
}

function readEd25519(path: string, flag: string, parse: (pem: Buffer) => KeyObject, notAKey: string, ed25519Only: string): KeyObject {
  let key: KeyObject;
  try {
    key = parse(readFileSync(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new AnonymiseError('USAGE', `${flag} ${path}: ${code === 'ENOENT' ? 'no such file' : notAKey}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new AnonymiseError('USAGE', `${flag} ${path}: an ${key.asymmetricKeyType} key; ${ed25519Only}`);
  return key;
}

/** What a column rule leaves of a value, with its kind (json and when list their parts). */
export function columnEvidence(rule: ColumnRule): { rule: string; protection: string; unique?: boolean } {
  const kind = ruleKind(rule);
  const unique = rule.kind === 'fake' ? rule.unique : rule.kind === 'hash' ? true : undefined;
  return { rule: rule.kind, protection: kind.protection, ...(unique !== undefined ? { unique } : {}) };
}

function tableEvidence(rule: TableRule | undefined): { protection: string; columns?: Record<string, ReturnType<typeof columnEvidence>> } {
  if (!rule) return { protection: 'kept' };
  if (rule.kind === 'keep') return { protection: 'kept' };
  if (rule.kind === 'drop') return { protection: 'removed' };
  const columns: Record<string, ReturnType<typeof columnEvidence>> = {};
  for (const [name, r] of rule.columns) columns[name] = columnEvidence(r);
  return { protection: 'by column', columns };
}

export interface StatementInput {
  subjects: Subject[];
  input: { name: string; digests: Subject[] };
  version: string;
  rules: RulesData;
  secret: string | undefined;
  report: Report;
  leakCheck?: LeakVerdict;
}

/** The leak check's verdict on the output, in numbers (run --against). */
export interface LeakVerdict {
  verdict: 'no leak found' | 'LEAKS FOUND';
  valuesChecked: number;
  columnsChecked: number;
  columnsLeaking: number;
}

/** The statement: what was produced (subject) and how (predicate). */
export function buildStatement(s: StatementInput): Record<string, unknown> {
  // a pg_dumpall table (db/schema.table) by its database's own rules first
  const rulesOf = (table: string, pattern: string): TableRule | undefined => {
    const slash = table.indexOf('/');
    const own = slash === -1 ? undefined : s.rules.databases.get(table.slice(0, slash))?.tables.get(pattern);
    return own ?? s.rules.tables.get(pattern);
  };
  return {
    _type: STATEMENT_TYPE,
    subject: s.subjects,
    predicateType: PREDICATE_TYPE,
    predicate: {
      tool: { name: 'anonymise-dump', version: s.version },
      timestamp: s.report.timestamp,
      input: { name: s.input.name, files: s.input.digests },
      rules: s.report.rules,
      pseudonymKeyId: pseudonymKeyId(s.secret),
      outside: { policy: s.rules.outside, done: s.report.outside },
      tables: s.report.tables.map((t) => ({
        table: t.table,
        rule: t.rule,
        action: t.action,
        rowsIn: t.rowsIn,
        rowsOut: t.rowsOut,
        rowsDropped: t.rowsDropped,
        ...tableEvidence(rulesOf(t.table, t.rule)),
      })),
      ...(s.leakCheck ? { leakCheck: s.leakCheck } : {}),
    },
  };
}

/** The statement in a DSSE envelope, signed when a key is given. */
export function envelope(statement: Record<string, unknown>, key: KeyObject | null): Envelope {
  const payload = Buffer.from(JSON.stringify(statement));
  const signatures = key ? [{ keyid: signerKeyId(key), sig: sign(null, pae(PAYLOAD_TYPE, payload), key).toString('base64') }] : [];
  return { payloadType: PAYLOAD_TYPE, payload: payload.toString('base64'), signatures };
}

export type Verdict = { ok: true; subjects: number } | { ok: false; reason: string };

/** Whether `env` is signed by `key` and names `output`'s bytes exactly (each file of a directory). */
export async function verifyEvidence(env: Envelope, key: KeyObject, output: string): Promise<Verdict> {
  if (env.payloadType !== PAYLOAD_TYPE || typeof env.payload !== 'string' || !Array.isArray(env.signatures)) return { ok: false, reason: 'not a DSSE envelope of an in-toto statement' };
  const payload = Buffer.from(env.payload, 'base64');
  const id = signerKeyId(key);
  const sig = env.signatures.find((s) => s.keyid === id);
  if (!sig) return { ok: false, reason: env.signatures.length ? 'not signed by this key' : 'not signed' };
  if (!verify(null, pae(env.payloadType, payload), key, Buffer.from(sig.sig, 'base64'))) return { ok: false, reason: 'the signature does not match the statement (changed after signing?)' };
  let statement: { _type?: string; subject?: Subject[] };
  try {
    statement = JSON.parse(payload.toString('utf8')) as typeof statement;
  } catch {
    return { ok: false, reason: 'the signed statement is not JSON' };
  }
  if (statement._type !== STATEMENT_TYPE || !Array.isArray(statement.subject)) return { ok: false, reason: 'not an in-toto statement' };
  const actual = await subjectsOf(output);
  const want = new Map(statement.subject.map((s) => [s.name, s.digest?.sha256]));
  if (actual.length !== want.size) return { ok: false, reason: `the output has ${actual.length} file(s), the statement names ${want.size}` };
  for (const a of actual) {
    const w = want.get(a.name);
    if (w === undefined) return { ok: false, reason: `${a.name} is not named by the statement` };
    if (w !== a.digest.sha256) return { ok: false, reason: `${a.name} differs from what was signed` };
  }
  return { ok: true, subjects: actual.length };
}

/**
 * The statement of an erasure request (forget): the outputs by sha256, the inputs' digests, the rules'
 * digests, and per dump how many rows each condition matched and what was removed or rewritten — the
 * conditions by table and column only: their values name the person, and stay out of it.
 */
export function buildForgetStatement(s: {
  subjects: Subject[];
  inputs: Subject[];
  version: string;
  rules: { file: string; sha256: string }[];
  timestamp: string;
  dumps: import('./people.js').ForgetReport[];
}): Record<string, unknown> {
  return {
    _type: STATEMENT_TYPE,
    subject: s.subjects,
    predicateType: `${PREDICATE_TYPE.replace(/evidence\/v1$/, 'forget/v1')}`,
    predicate: {
      tool: { name: 'anonymise-dump', version: s.version },
      timestamp: s.timestamp,
      inputs: s.inputs,
      rules: s.rules,
      dumps: s.dumps.map((d) => ({
        input: basename(d.input),
        output: basename(d.output),
        requests: d.conditions.map((c) => ({ table: c.table, column: c.column, rowsMatched: c.rows })),
        rowsMatched: d.matched,
        identifiersSearched: d.identifiers,
        identifiersNotSearched: d.identifiersNotSearched,
        tables: d.tables.map((t) => ({ table: t.table, rowsIn: t.rowsIn, rowsRemoved: t.rowsRemoved, valuesChanged: Object.values(t.valuesChanged).reduce((a, b) => a + b, 0) })),
        outside: d.outside,
      })),
    },
  };
}

/** Subjects of several outputs, each file named under its output's name when there is more than one. */
export async function subjectsOfAll(paths: readonly string[]): Promise<Subject[]> {
  if (paths.length === 1) return subjectsOf(paths[0]!);
  const out: Subject[] = [];
  for (const p of paths) {
    const dir = statSync(p).isDirectory();
    for (const sub of await subjectsOf(p)) out.push(dir ? { ...sub, name: `${basename(p)}/${sub.name}` } : sub);
  }
  return out;
}
