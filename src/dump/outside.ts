/**
 * The policy for what lies outside the rows: pg_dump 18's statistics, comments and security labels,
 * role passwords and connection secrets, role names, and string constants in every other definition
 * (defaults, CHECKs, views, function bodies, policies, partition bounds, enum labels, settings…).
 *
 * Works on one classified statement, decoded to text (DDL is small and off the data path), and
 * says what to write: the statement as it is, a rewritten text, or nothing. What it finds is
 * returned as data (kinds and counts, never values) for `check`, `scan` and the report.
 */
import { commentSpans, isOp, isWord, tokenize, type Token } from './sql-tokens.js';
import type { Classified } from './statements.js';
import type { LiteralPolicy, ObjectAction, OutsideCount, OutsidePolicy, TableExposure } from '../contract/outside-policy.js';
import { SECRET_MARKER, detector, matches } from '../pseudonym/detectors.js';

export interface OutsideContext {
  policy: OutsidePolicy;
  literals: LiteralPolicy;
  /** statement kinds the engine does not know stop the run */
  unknownFails: boolean;
  /**
   * null: not a table this dump defines or fills: its statistics are stripped. For an index, its
   * table's exposure with every column counted as rewritten unless all are kept (an expression may read any).
   */
  exposure(table: string): TableExposure | null;
  /** forget or a subset changes some tables' rows: their statistics go whatever the policy (exposure says which) */
  overlay: boolean;
  scrub(text: string): string;
  rolePseudonym(name: string): string;
}


export interface OutsideResult {
  action: 'keep' | 'rewrite' | 'drop';
  text?: string;
  /** under `literals: fail` or for an unknown kind: why the run must stop (no value in it) */
  stop?: string;
  /** detector kinds found in string constants and names, before any policy */
  found: string[];
  counts: Partial<Record<OutsideCount, number>>;
}

interface Edit {
  at: number;
  end: number;
  text: string;
}

/** The value of a string token as PostgreSQL reads it (standard_conforming_strings on). */
export function stringValue(sql: string, tok: Token): string {
  const raw = sql.slice(tok.at, tok.end);
  if (raw.startsWith('$')) {
    const tag = raw.slice(0, raw.indexOf('$', 1) + 1);
    return raw.slice(tag.length, raw.length - tag.length);
  }
  if (raw[0] === 'E' || raw[0] === 'e') {
    return raw
      .slice(2, -1)
      .replace(/''/g, "'")
      .replace(/\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)/gs, (_, e: string) => {
        const simple: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e.length === 1 && !/[0-7]/.test(e)) return simple[e] ?? e;
        if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
        if (e[0] === 'u' || e[0] === 'U') return String.fromCodePoint(parseInt(e.slice(1), 16));
        return String.fromCharCode(parseInt(e, 8) & 0xff);
      });
  }
  return raw.slice(1, -1).replace(/''/g, "'");
}

/** A string token with `scrub` applied to its value, in the token's own quoting. */
function scrubToken(sql: string, tok: Token, scrub: (s: string) => string): string | null {
  const raw = sql.slice(tok.at, tok.end);
  let out: string;
  if (raw.startsWith('$')) {
    const tag = raw.slice(0, raw.indexOf('$', 1) + 1);
    const body = raw.slice(tag.length, raw.length - tag.length);
    out = tag + scrub(body) + tag; // fakes hold no `$`
  } else if (raw[0] === 'E' || raw[0] === 'e') {
    // the raw body: fakes hold no quote or backslash, so escapes around a match survive as written
    out = raw.slice(0, 2) + scrub(raw.slice(2, -1)) + "'";
  } else {
    out = `'${scrub(raw.slice(1, -1).replace(/''/g, "'")).replace(/'/g, "''")}'`;
  }
  return out === raw ? null : out;
}

/**
 * A statement with `scrub` applied to its string constants and its comments only: SQL's own words —
 * names, keywords, types, owners — are structure, never data, and rewriting them (a column named
 * `owner`, `OWNER TO postgres`) would leave a dump that does not restore.
 */
export function scrubStringsAndComments(sql: string, scrub: (s: string) => string): string {
  return scrubAll(sql, tokenize(sql), scrub);
}

/** Applies `edits` (non-overlapping) to `sql`. */
function splice(sql: string, edits: Edit[]): string {
  edits.sort((a, b) => a.at - b.at);
  let out = '';
  let pos = 0;
  for (const e of edits) {
    out += sql.slice(pos, e.at) + e.text;
    pos = e.end;
  }
  return out + sql.slice(pos);
}

const DDL_KINDS = ['email', 'secret', 'ip', 'card', 'phone', 'postcode', 'nino'].filter((k) => detector(k).inDdl);

/** Detector kinds found in the statement's string constants and comments, and e-mails in its quoted names. */
function findings(sql: string, toks: Token[]): { kinds: string[]; onlyInNames: boolean } {
  const inText = new Set<string>();
  let inNames = false;
  for (const t of toks) {
    if (t.t === 'str') for (const m of matches(stringValue(sql, t), DDL_KINDS)) inText.add(m.kind);
    else if (t.t === 'id' && t.quoted && !matches(t.v, ['email']).next().done) inNames = true;
  }
  for (const c of commentSpans(sql)) for (const m of matches(sql.slice(c.at, c.end), COMMENT_KINDS)) inText.add(m.kind);
  const kinds = new Set(inText);
  if (inNames) kinds.add('email');
  return { kinds: [...kinds], onlyInNames: inNames && inText.size === 0 };
}

/** What counts in free-text comments: every kind with a fake but URLs (a site's own links). */
const COMMENT_KINDS = DDL_KINDS;

/**
 * Comments between statements (beyond pg_dump's own headers, which name objects) are free text too:
 * what the detectors find there is scrubbed, kept, or stops the run as the comments policy says.
 */
export function examineComments(text: string, ctx: OutsideContext, label: string): { text: string; found: string[]; stop?: string } {
  const found = new Set<string>();
  for (const m of matches(text, COMMENT_KINDS)) found.add(m.kind);
  if (found.size === 0) return { text, found: [] };
  const action = objectAction(ctx.policy, label) ?? ctx.policy.comments;
  if (action === 'keep') return { text, found: [...found] };
  // `drop` of a free comment: its lines go, the blank lines around them stay
  if (action === 'drop') return { text: text.replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, ''), found: [...found] };
  const scrubbed = ctx.scrub(text);
  return { text: scrubbed, found: [...found] };
}

function objectAction(policy: OutsidePolicy, label: string): ObjectAction | undefined {
  return policy.objects.find((o) => o.re.test(label))?.action;
}

/**
 * Decides what to write for one statement. `label` names its object (from pg_dump's TOC header, or
 * the statement's keywords); `sql` is its text from its first keyword to its `;`.
 */
export function applyOutside(sql: string, cls: Classified, label: string, ctx: OutsideContext): OutsideResult {
  const toks = tokenize(sql);
  const counts: OutsideResult['counts'] = {};
  const bump = (k: OutsideCount, n = 1) => (counts[k] = (counts[k] ?? 0) + n);
  const edits: Edit[] = [];
  const override = objectAction(ctx.policy, label);

  if (cls.kind === 'unknown') {
    if (!ctx.unknownFails) return { action: 'keep', found: [], counts };
    return { action: 'keep', found: [], counts, stop: `a statement of a kind pg_dump does not write${cls.verb ? ` (${cls.verb})` : ''}: it is not examined, so the run stops (unknown: fail)` };
  }

  if (cls.kind === 'statistics') return statistics(sql, toks, ctx, counts);

  // secrets are never copied, whatever the policy
  if (cls.kind === 'role') bump('secretsRemoved', rolePasswords(toks, edits));
  if (cls.kind === 'user-mapping' || cls.kind === 'server') bump('secretsRemoved', secretOptions(sql, toks, edits));
  if (cls.kind === 'subscription') bump('secretsRemoved', subscriptionPassword(sql, toks, edits));
  if (ctx.policy.roles === 'pseudonymise') bump('rolesPseudonymised', roleNames(sql, toks, edits, ctx));
  if (counts.secretsRemoved === 0) delete counts.secretsRemoved;
  if (counts.rolesPseudonymised === 0) delete counts.rolesPseudonymised;

  // what is found is judged on the statement as it will be written, without the secrets just removed
  const edited = edits.length ? splice(sql, edits.splice(0)) : sql;
  const etoks = edited === sql ? toks : tokenize(edited);
  const { kinds: found, onlyInNames } = findings(edited, etoks);

  if (cls.kind === 'comment') {
    const action = override ?? ctx.policy.comments;
    if (action === 'drop') {
      bump('commentsDropped');
      return { action: 'drop', found, counts };
    }
    if (action === 'scrub' && found.length > 0) {
      const text = scrubAll(edited, etoks, ctx.scrub);
      if (text !== edited) bump('commentsScrubbed');
      return { action: 'rewrite', text, found, counts };
    }
    return edited === sql ? { action: 'keep', found, counts } : { action: 'rewrite', text: edited, found, counts };
  }

  const action = override ?? ctx.literals;
  if (found.length > 0) {
    if (action === 'drop') {
      bump('objectsDropped');
      return { action: 'drop', found, counts };
    }
    if (action === 'fail') {
      const kinds = found.join(', ');
      return {
        action: 'keep',
        found,
        counts,
        stop:
          onlyInNames
            ? `a name looks like an e-mail address (personal data): set outside.roles: pseudonymise, or outside.objects: { "${label}": keep }`
            : `a string constant or comment holds what looks like personal data or a secret (${kinds}): set outside.literals: scrub, or outside.objects: { "${label}": scrub | keep | drop }`,
      };
    }
    if (action === 'scrub') {
      const text = scrubAll(edited, etoks, ctx.scrub);
      if (text !== edited) bump('literalsScrubbed');
      return { action: 'rewrite', text, found, counts };
    }
  }
  return edited === sql ? { action: 'keep', found, counts } : { action: 'rewrite', text: edited, found, counts };
}

function scrubAll(sql: string, toks: Token[], scrub: (s: string) => string): string {
  const edits: Edit[] = [];
  for (const t of toks) {
    if (t.t !== 'str') continue;
    const text = scrubToken(sql, t, scrub);
    if (text !== null) edits.push({ at: t.at, end: t.end, text });
  }
  // comments inside the statement: free text (fakes hold no `*/`, no newline)
  for (const c of commentSpans(sql)) {
    const body = sql.slice(c.at, c.end);
    const text = scrub(body);
    if (text !== body) edits.push({ at: c.at, end: c.end, text });
  }
  return edits.length ? splice(sql, edits) : sql;
}

/** `PASSWORD '…'` in CREATE/ALTER ROLE becomes `PASSWORD NULL` (a role without one, as the restore accepts). */
function rolePasswords(toks: Token[], edits: Edit[]): number {
  let n = 0;
  for (let i = 0; i < toks.length; i++) {
    if (isWord(toks[i], 'password') && toks[i + 1]?.t === 'str') {
      edits.push({ at: toks[i + 1]!.at, end: toks[i + 1]!.end, text: 'NULL' });
      n++;
    }
  }
  return n;
}

const SECRET_OPTION = /pass|secret|token|credential|api_?key|private/i;

/** `OPTIONS (password '…')` of user mappings, servers and wrappers: the value becomes a marker. */
function secretOptions(sql: string, toks: Token[], edits: Edit[]): number {
  let n = 0;
  for (let i = 0; i < toks.length; i++) {
    if (!isWord(toks[i], 'options') || !isOp(toks[i + 1], '(')) continue;
    for (let j = i + 2; j < toks.length && !isOp(toks[j], ')'); j++) {
      const t = toks[j]!;
      // `name 'value'`, or `ADD|SET name 'value'` in an ALTER
      if (t.t === 'id' && toks[j + 1]?.t === 'str' && SECRET_OPTION.test(t.v)) {
        const v = toks[j + 1]!;
        if (stringValue(sql, v) !== SECRET_MARKER) {
          edits.push({ at: v.at, end: v.end, text: `'${SECRET_MARKER}'` });
          n++;
        }
      }
    }
  }
  return n;
}

/** `CONNECTION 'host=… password=…'`: the password leaves the connection string (key=value or URI form). */
function subscriptionPassword(sql: string, toks: Token[], edits: Edit[]): number {
  let n = 0;
  for (let i = 0; i < toks.length; i++) {
    if (!isWord(toks[i], 'connection') || toks[i + 1]?.t !== 'str') continue;
    const tok = toks[i + 1]!;
    const conninfo = stringValue(sql, tok);
    const cleaned = conninfo
      .replace(/(^|\s)(password|sslpassword)\s*=\s*(?:'(?:[^'\\]|\\.)*'|\S+)/gi, () => (n++, ''))
      .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):[^@\s]*@/i, (_, user: string) => (n++, `${user}@`))
      .replace(/([?&])(password|sslpassword)=[^&\s]*&?/gi, (_, sep: string) => (n++, sep))
      .trim();
    if (cleaned !== conninfo) edits.push({ at: tok.at, end: tok.end, text: `'${cleaned.replace(/'/g, "''")}'` });
  }
  return n;
}

/** Roles the pseudonyms leave alone: predefined roles and SQL's role keywords. */
// (and `postgres`, the bootstrap superuser every cluster has, which names nobody)
const BUILTIN_ROLE = /^(pg_.*|public|current_user|session_user|current_role|none|postgres)$/;

/**
 * Role names in pg_dump's and pg_dumpall's comments (`Owner: …` in a TOC header, `USER MAPPING … SERVER`,
 * `User Config "…"`): pseudonymised as the statements are, so that a comment does not name them.
 */
export function pseudonymiseComments(text: string, pseudonym: (name: string) => string): string {
  const p = (name: string) => (BUILTIN_ROLE.test(name) || name === '-' ? name : pseudonym(name));
  return text
    .replace(/^(-- .*; Owner: )(.+)$/gm, (_, head: string, owner: string) => head + p(owner))
    .replace(/(USER MAPPING )(.+?)( SERVER )/g, (_, a: string, name: string, b: string) => a + p(name) + b)
    .replace(/^(-- User Config ")(.*)(")$/gm, (_, a: string, name: string, b: string) => a + p(name.replace(/""/g, '"')) + b);
}

/**
 * Role names in the places a dump names roles (CREATE/ALTER/DROP ROLE, OWNER TO, GRANT … TO, REVOKE …
 * FROM, GRANTED BY, FOR ROLE, AUTHORIZATION, USER MAPPING FOR, policies' TO, COMMENT ON ROLE, SET
 * ROLE / SESSION AUTHORIZATION) become keyed pseudonyms, the same in every statement.
 */
function roleNames(sql: string, toks: Token[], edits: Edit[], ctx: OutsideContext): number {
  let n = 0;
  const name = (i: number) => {
    const t = toks[i];
    if (!t) return;
    let value: string;
    if (t.t === 'id') value = t.v;
    else if (t.t === 'str') value = stringValue(sql, t);
    else return;
    if (BUILTIN_ROLE.test(value)) return;
    edits.push({ at: t.at, end: t.end, text: `"${ctx.rolePseudonym(value)}"` });
    n++;
  };
  const list = (i: number) => {
    for (;;) {
      if (isWord(toks[i], 'group')) i++;
      name(i);
      if (!isOp(toks[i + 1], ',')) return;
      i += 2;
    }
  };
  const w0 = toks[0]?.t === 'id' ? (toks[0] as { v: string }).v : '';
  // CREATE|ALTER|DROP ROLE|USER|GROUP [IF EXISTS] name
  if ((w0 === 'create' || w0 === 'alter' || w0 === 'drop') && (isWord(toks[1], 'role') || isWord(toks[1], 'user') || isWord(toks[1], 'group')) && !isWord(toks[2], 'mapping')) {
    let i = 2;
    if (isWord(toks[i], 'if')) i += isWord(toks[i + 1], 'not') ? 3 : 2;
    list(i);
  }
  const isGrant = w0 === 'grant';
  const onAt = toks.findIndex((t) => isWord(t, 'on'));
  // GRANT role [, …] TO …: role membership, no ON clause
  if (isGrant && onAt === -1) list(1);
  if (w0 === 'revoke' && onAt === -1) list(isWord(toks[1], 'admin') || isWord(toks[1], 'inherit') || isWord(toks[1], 'set') ? 4 : 1);
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t.t !== 'id' || t.quoted) continue;
    if (t.v === 'owner' && isWord(toks[i + 1], 'to')) name(i + 2);
    else if (t.v === 'to' && (isGrant || (w0 === 'create' && isWord(toks[1], 'policy')) || (w0 === 'alter' && isWord(toks[1], 'policy')))) list(i + 1);
    else if (t.v === 'from' && w0 === 'revoke') list(i + 1);
    else if (t.v === 'granted' && isWord(toks[i + 1], 'by')) name(i + 2);
    else if (t.v === 'for' && (isWord(toks[i + 1], 'role') || isWord(toks[i + 1], 'user')) && w0 === 'alter') list(i + 2);
    else if (t.v === 'authorization' && w0 === 'create') name(i + 1);
    else if (t.v === 'mapping' && isWord(toks[i + 1], 'for')) name(i + 2);
    else if (t.v === 'on' && isWord(toks[i + 1], 'role') && (w0 === 'comment' || w0 === 'security')) name(i + 2);
    else if (t.v === 'set' && i === 0 && isWord(toks[1], 'role')) name(isOp(toks[2], '=') || isWord(toks[2], 'to') ? 3 : 2);
    else if (t.v === 'set' && i === 0 && isWord(toks[1], 'session') && isWord(toks[2], 'authorization')) name(3);
  }
  return n;
}

/** Keys of pg_restore_*_stats that carry no value of the column. */
const SAFE_STAT_KEYS = new Set(['version', 'schemaname', 'relname', 'attname', 'attnum', 'inherited', 'null_frac', 'avg_width', 'n_distinct', 'correlation', 'relpages', 'reltuples', 'relallvisible', 'relallfrozen']);

/**
 * pg_dump 18's `--statistics`: the value-bearing arguments (most common values, histograms, element
 * and range statistics, and any key not known to be safe) of a column whose values the output does
 * not keep are removed; all statistics of dropped, filtered or unclassified tables go; the rest is
 * kept, so the restore still has them.
 */
function statistics(sql: string, toks: Token[], ctx: OutsideContext, counts: OutsideResult['counts']): OutsideResult {
  const found = findings(sql, toks).kinds;
  const policy = ctx.policy.statistics;
  if (policy === 'keep' && !ctx.overlay) return { action: 'keep', found, counts };
  const drop = (): OutsideResult => ((counts.statisticsDropped = 1), { action: 'drop', found, counts });
  if (policy === 'drop') return drop();
  const fn = (toks[5] as { v: string } | undefined)?.v;
  const open = 6;
  if ((fn !== 'pg_restore_relation_stats' && fn !== 'pg_restore_attribute_stats') || !isOp(toks[open], '(')) return drop();
  // the arguments: 'key', value[::type] pairs
  const args: { at: number; end: number; toks: Token[] }[] = [];
  let depth = 0;
  let cur: Token[] = [];
  let close = -1;
  for (let i = open + 1; i < toks.length; i++) {
    const t = toks[i]!;
    if (isOp(t, '(') || isOp(t, '[')) depth++;
    else if (isOp(t, ')') || isOp(t, ']')) {
      if (depth === 0) {
        close = i;
        break;
      }
      depth--;
    } else if (depth === 0 && isOp(t, ',')) {
      args.push({ at: cur[0]?.at ?? t.at, end: cur[cur.length - 1]?.end ?? t.at, toks: cur });
      cur = [];
      continue;
    }
    cur.push(t);
  }
  if (close === -1 || args.length % 2 === 1 && cur.length === 0) return drop();
  if (cur.length) args.push({ at: cur[0]!.at, end: cur[cur.length - 1]!.end, toks: cur });
  if (args.length % 2 !== 0) return drop();
  const pairs: { key: string; at: number; end: number; value: Token[] }[] = [];
  for (let k = 0; k < args.length; k += 2) {
    const key = args[k]!;
    if (key.toks.length !== 1 || key.toks[0]!.t !== 'str') return drop();
    pairs.push({ key: stringValue(sql, key.toks[0]!), at: key.at, end: args[k + 1]!.end, value: args[k + 1]!.toks });
  }
  const str = (key: string) => {
    const p = pairs.find((x) => x.key === key);
    const v = p?.value[0];
    return v?.t === 'str' ? stringValue(sql, v) : undefined;
  };
  const schema = str('schemaname');
  const rel = str('relname');
  if (schema === undefined || rel === undefined) return drop();
  const exposure = ctx.exposure(`${schema}.${rel}`);
  if (exposure && exposure.rows !== 'all') return drop();
  if (policy === 'keep') return { action: 'keep', found, counts };
  if (fn === 'pg_restore_relation_stats') return { action: 'keep', found, counts };
  const att = str('attname');
  if (exposure && (exposure.allKept || (att !== undefined && exposure.kept(att)))) return { action: 'keep', found, counts };
  const kept = pairs.filter((p) => SAFE_STAT_KEYS.has(p.key));
  if (kept.length === pairs.length) return { action: 'keep', found, counts };
  counts.statisticsStripped = 1;
  // pg_dump writes the pairs one a line: keep its separator
  const sep = pairs.length > 1 ? sql.slice(pairs[0]!.end, pairs[1]!.at) : ',\n\t';
  const text = sql.slice(0, pairs[0]!.at) + kept.map((p) => sql.slice(p.at, p.end)).join(sep) + sql.slice(pairs[pairs.length - 1]!.end);
  return { action: 'rewrite', text, found, counts };
}
