/**
 * One classifier for every statement pg_dump (13–18) and pg_dumpall write outside table data, by
 * their leading words. Each kind says where values or secrets can sit, so that the policy for what
 * lies outside the rows (outside.ts) examines all of them; a statement of no known kind is reported
 * as `unknown`, and under `unknown: fail` it stops the run.
 *
 * Data statements (COPY, INSERT, large-object writes) are not classified here: the rewriter reads
 * them as rows.
 */
import { isOp, isWord, type Token } from './sql-tokens.js';
import { matches } from '../pseudonym/detectors.js';

export type StatementKind =
  | 'settings' // SET, RESET, set_config: session settings
  | 'transaction' // BEGIN / COMMIT around large objects
  | 'sequence' // setval
  | 'large-object' // lo_create, lo_open, lo_close, lo_unlink (lowrite is data)
  | 'statistics' // pg_restore_relation_stats / pg_restore_attribute_stats (pg_dump 18 --statistics)
  | 'comment' // COMMENT ON, SECURITY LABEL: free text
  | 'role' // CREATE / ALTER ROLE|USER|GROUP: passwords, role names
  | 'user-mapping' // CREATE USER MAPPING … OPTIONS: passwords
  | 'server' // CREATE SERVER / FOREIGN DATA WRAPPER … OPTIONS: passwords
  | 'subscription' // CREATE SUBSCRIPTION … CONNECTION: passwords
  | 'ddl' // every other definition: its string constants are examined
  | 'unknown';

export interface Classified {
  kind: StatementKind;
  /** the statement's leading keywords (`CREATE FUNCTION`), for messages: never data */
  verb: string;
}

/** Object types after CREATE / ALTER / DROP, longest first (pg_dump's _getObjectDescription and dumpall). */
const OBJECT_TYPES = [
  'access method', 'aggregate', 'cast', 'collation', 'conversion', 'database', 'default privileges', 'domain',
  'event trigger', 'extension', 'foreign data wrapper', 'foreign table', 'function', 'group', 'index', 'language',
  'large object', 'materialized view', 'operator class', 'operator family', 'operator', 'policy', 'procedure',
  'publication', 'role', 'routine', 'rule', 'schema', 'sequence', 'server', 'statistics', 'subscription', 'table',
  'tablespace', 'text search configuration', 'text search dictionary', 'text search parser', 'text search template',
  'transform', 'trigger', 'type', 'user mapping', 'user', 'view',
].map((t) => t.split(' '));

/** Words that may stand between CREATE and the object type. */
const MODIFIERS = new Set(['or', 'replace', 'unique', 'unlogged', 'temp', 'temporary', 'global', 'local', 'trusted', 'procedural', 'constraint', 'default', 'recursive']);

/** Functions pg_dump calls with SELECT, by kind. */
const SELECT_FUNCTIONS: Record<string, StatementKind> = {
  set_config: 'settings',
  setval: 'sequence',
  lo_create: 'large-object',
  lo_open: 'large-object',
  lo_close: 'large-object',
  lo_unlink: 'large-object',
  lo_from_bytea: 'large-object',
};

function words(toks: Token[], from: number, n: number): string[] {
  const out: string[] = [];
  for (let i = from; i < toks.length && out.length < n; i++) {
    const t = toks[i]!;
    if (t.t !== 'id' || t.quoted) break;
    out.push(t.v);
  }
  return out;
}

/** The object type after CREATE/ALTER/DROP at `i` (modifiers skipped), or null. */
function objectType(toks: Token[], i: number): string | null {
  for (let t = toks[i]; t?.t === 'id' && !t.quoted && MODIFIERS.has(t.v); t = toks[i]) {
    // `CREATE DEFAULT CONVERSION`, but `ALTER DEFAULT PRIVILEGES` is an object type of its own
    if (isWord(toks[i], 'default') && isWord(toks[i + 1], 'privileges')) break;
    i++;
  }
  const w = words(toks, i, 3);
  for (const type of OBJECT_TYPES) if (type.every((part, k) => w[k] === part)) return type.join(' ');
  return null;
}

export function classify(toks: Token[]): Classified {
  const first = toks[0];
  if (!first || first.t !== 'id' || first.quoted) return { kind: 'unknown', verb: '' };
  const w = first.v;
  const verb = (n: number) => words(toks, 0, n).join(' ').toUpperCase();
  switch (w) {
    case 'set':
    case 'reset':
      return { kind: 'settings', verb: w.toUpperCase() };
    case 'begin':
    case 'commit':
    case 'start':
    case 'end':
      return { kind: 'transaction', verb: w.toUpperCase() };
    case 'comment':
      return isWord(toks[1], 'on') ? { kind: 'comment', verb: 'COMMENT ON' } : { kind: 'unknown', verb: 'COMMENT' };
    case 'security':
      return isWord(toks[1], 'label') ? { kind: 'comment', verb: 'SECURITY LABEL' } : { kind: 'unknown', verb: 'SECURITY' };
    case 'grant':
    case 'revoke':
    case 'refresh':
      return { kind: 'ddl', verb: w.toUpperCase() };
    case 'select':
      return classifySelect(toks);
    case 'update':
      // pg_dumpall and pg_dump --create: `UPDATE pg_catalog.pg_database SET datistemplate = … WHERE datname = …`
      return isWord(toks[1], 'pg_catalog') && isOp(toks[2], '.') && isWord(toks[3], 'pg_database')
        ? { kind: 'ddl', verb: 'UPDATE pg_database' }
        : { kind: 'unknown', verb: 'UPDATE' };
    case 'create':
    case 'alter':
    case 'drop': {
      const type = objectType(toks, 1);
      if (!type) return { kind: 'unknown', verb: w.toUpperCase() };
      const v = `${w} ${type}`.toUpperCase();
      if (type === 'role' || type === 'user' || type === 'group') return { kind: w === 'drop' ? 'ddl' : 'role', verb: v };
      if (type === 'user mapping') return { kind: w === 'drop' ? 'ddl' : 'user-mapping', verb: v };
      if (type === 'server' || type === 'foreign data wrapper') return { kind: w === 'drop' ? 'ddl' : 'server', verb: v };
      if (type === 'subscription') return { kind: w === 'drop' ? 'ddl' : 'subscription', verb: v };
      return { kind: 'ddl', verb: v };
    }
  }
  return { kind: 'unknown', verb: /^[a-z]{1,20}$/.test(w) && KNOWN_COMMANDS.has(w) ? verb(1) : '' };
}

/** SQL command words, which a message may name (anything else could be data in a damaged dump). */
const KNOWN_COMMANDS = new Set([
  'abort', 'analyze', 'call', 'checkpoint', 'close', 'cluster', 'copy', 'deallocate', 'declare', 'delete', 'discard',
  'do', 'execute', 'explain', 'fetch', 'import', 'insert', 'listen', 'load', 'lock', 'merge', 'move', 'notify',
  'prepare', 'reassign', 'reindex', 'release', 'rollback', 'savepoint', 'show', 'table', 'truncate', 'unlisten',
  'vacuum', 'values', 'with',
]);

function classifySelect(toks: Token[]): Classified {
  // SELECT pg_catalog.fn(…)
  if (isWord(toks[1], 'pg_catalog') && isOp(toks[2], '.') && toks[3]?.t === 'id' && isOp(toks[4], '(')) {
    const fn = (toks[3] as { v: string }).v;
    const kind = SELECT_FUNCTIONS[fn];
    if (kind) return { kind, verb: `SELECT ${fn}` };
    return { kind: 'unknown', verb: 'SELECT' };
  }
  // SELECT * FROM pg_catalog.pg_restore_…_stats(…): every variant is statistics (PostgreSQL 19 adds more)
  if (isOp(toks[1], '*') && isWord(toks[2], 'from') && isWord(toks[3], 'pg_catalog') && isOp(toks[4], '.') && toks[5]?.t === 'id') {
    const fn = (toks[5] as { v: string }).v;
    if (/^pg_restore_[a-z_]*stats$/.test(fn)) return { kind: 'statistics', verb: `SELECT ${fn}` };
  }
  return { kind: 'unknown', verb: 'SELECT' };
}

/** The pg_dump header comment that names the TOC entry the next statements belong to. */
export interface TocHeader {
  name: string;
  type: string;
  schema: string;
}

const HEADER = /^-- (?:Data for |Statistics for )?Name: (.*); Type: (.*?); Schema: (.*?); Owner: ?(.*)$/m;

/** Reads the last TOC header in the comments before a statement, if there is one. */
export function tocHeader(prefix: string): TocHeader | null {
  if (!prefix.includes('Name: ')) return null;
  let last: TocHeader | null = null;
  const re = new RegExp(HEADER.source, 'gm');
  for (let m = re.exec(prefix); m; m = re.exec(prefix)) last = { name: m[1]!, type: m[2]!, schema: m[3]! };
  return last;
}

/** How messages and `objects:` rules name a TOC entry: `FUNCTION public.notify()`, `COMMENT public.COLUMN users.email`. */
export function objectLabel(h: TocHeader): string {
  return h.schema && h.schema !== '-' ? `${h.type} ${h.schema}.${h.name}` : `${h.type} ${h.name}`;
}

/**
 * An object label as messages may show it: anything that looks like an e-mail address (a role named
 * after a person) left out, control characters shown as `?`, and at most 200 characters.
 */
export function redactLabel(label: string): string {
  let out = label;
  for (const m of matches(label, ['email'])) out = out.replace(m.text, '<e-mail>');
  out = out.replace(/[\x00-\x1f\x7f]/g, '?');
  return out.length > 200 ? `${out.slice(0, 200)}…` : out;
}
