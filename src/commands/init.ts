/**
 * `init`: a complete draft rules file for a dump. Every table and column is named; each column gets
 * a suggested rule — from its name, its type and what its sampled values look like — or `keep`, with
 * a comment saying why. The draft passes `check` as written; a human reads it before use.
 */
import { matches } from '../pseudonym/detectors.js';
import { AnonymiseError } from '../errors.js';
import { jsonKeySegment } from '../rules/rules-file.js';
import { JSON_PATH_SEP, PII_KINDS, type ColumnScan, type PiiKind, type ScanResult, type TableSchema } from './scan.js';

interface Suggestion {
  rule: string;
  why: string;
}

const SCRUBBABLE: PiiKind[] = ['email', 'phone', 'postcode', 'ip', 'address'];

function pct(n: number, of: number): string {
  return `${n}/${of}`;
}

function found(s: ColumnScan | undefined): string {
  if (!s || s.values === 0) return 'no values sampled';
  const kinds = (Object.entries(s.found) as [PiiKind, number][]).filter(([, n]) => n > 0);
  if (kinds.length === 0) return `nothing personal in ${s.values} sampled values`;
  return `sampled values hold ${kinds.map(([k, n]) => `${k} ${pct(n, s.values)}`).join(', ')}`;
}

/** The rule for a value judged by its name and its sample alone (also used for JSON keys). */
/** Tables whose own id is a person's: a username template over it means that person. */
const PERSON_TABLE = /(^|[._])(\w+_)?(user|users|account|accounts|member|members|customer|customers|person|people|profile|profiles)$/;

function byName(name: string, opts: { unique: boolean; hasId: boolean; isJsonKey: boolean; table?: string; has?: (c: string) => boolean }): Suggestion | null {
  const n = name.toLowerCase();
  const u = opts.unique ? ', unique: true' : '';
  if (/(^|_)(e_?mail|email_address)$|^email/.test(n)) return { rule: `{ fake: internet.email${u} }`, why: `the name says e-mail address${opts.unique ? '; UNIQUE' : ''}` };
  if (/^(first_?name|given_?name|forename|firstname)$/.test(n)) return { rule: '{ fake: person.firstName }', why: 'the name says first name' };
  if (/^(last_?name|surname|family_?name|lastname)$/.test(n)) return { rule: '{ fake: person.lastName }', why: 'the name says last name' };
  // a bare `name` column is as often a product's or a page's: only in JSON (form fields) is it a person
  if (/^(full_?name|display_?name|contact_?name|your_?name|applicant_?name)$/.test(n) || (opts.isJsonKey && n === 'name'))
    return { rule: '{ fake: person.fullName }', why: "the name says a person's name" };
  if (/^(user_?name|login)$/.test(n)) {
    // the row's own id names a person only in a table of people (an admin log's id is the change's)
    return opts.hasId && !opts.isJsonKey && PERSON_TABLE.test(opts.table ?? '')
      ? { rule: '{ template: "user.{id}" }', why: `the name says username${opts.unique ? '; UNIQUE, and so is id' : ''}` }
      : { rule: `{ fake: internet.username${u} }`, why: 'the name says username' };
  }
  if (/(^|_)(password|passwd|pwd)$/.test(n)) return { rule: '{ value: "!" }', why: "the name says password (Django's unusable password)" };
  if (/(^|_)(phone|mobile|telephone|tel|fax)(_?number)?$/.test(n)) return { rule: `{ fake: phone.number, locale: en_GB${u} }`, why: 'the name says phone number' };
  if (/(^|_)(post_?code|zip_?code|zip|postal_?code)$/.test(n)) return { rule: '{ fake: location.zipCode, locale: en_GB }', why: 'the name says postcode' };
  if (/(^|_)(ip|ip_?address|remote_?addr)$/.test(n)) return { rule: '{ fake: internet.ipv4 }', why: 'the name says IP address' };
  if (/(^|_)(dob|date_of_birth|birth_?date|birthday)$/.test(n))
    return { rule: '{ generalise: year }', why: 'the name says date of birth: the year only (January 1st)' };
  if (/(^|_)(ni_?number|national_insurance(_number)?|nino)$/.test(n))
    return { rule: '{ hash: { length: 16 } }', why: 'the name says NI number: a pseudonymous key' };
  if (!opts.isJsonKey && /(^|_)(salary|income|wage|wages|pay|earnings|balance|debt|benefit_amount)$/.test(n))
    return { rule: '{ noise: { ratio: 0.1 } }', why: "the name says a person's money: moved within 10 % (totals stay close)" };
  // a device's address, not a street's (a data-only dump does not say the column is a macaddr)
  if (/(^|_)(mac|hw|hardware|ether(net)?|bluetooth|wifi)_?(addr|address)$|^mac$/.test(n)) return { rule: '{ fake: internet.mac }', why: "the name says a device's MAC address" };
  if (/(^|_)(address|street|address_line_?\d?|addr)$/.test(n)) return { rule: '{ scrub: [address, postcode, phone, email] }', why: 'the name says address: street addresses, postcodes, phones and e-mails in it are replaced (review: town names stay)' };
  // a bare `key` is a credential in a table of tokens (authtoken_token.key), a setting's name elsewhere
  // (default_configs.key): there its values decide
  const bareKey = n === 'key' && !/(token|api|auth|credential|secret|key)/i.test(opts.table ?? '');
  if (!opts.isJsonKey && !bareKey && /(^|_)(token|api_?key|access_?key|secret|auth_?key|key)$/.test(n) && !/(^|_)(primary|foreign|sort|cache|lookup|natural)_key$/.test(n))
    return { rule: '{ hash: { length: 40 } }', why: 'the name says token, key or secret: a keyed hash' };
  // a repr of an arbitrary object (Django's admin log): usernames, names, e-mails
  if (/(^|_)repr$/.test(n) && !opts.isJsonKey)
    return opts.has?.('object_id')
      ? { rule: '{ template: "object {object_id}" }', why: "the name says an object's text repr (it holds usernames and names): the object's id instead" }
      : { rule: '{ hash: { length: 16 } }', why: "the name says an object's text repr (it holds usernames and names)" };
  return null;
}

function byValues(s: ColumnScan | undefined): Suggestion | null {
  if (!s || s.values === 0) return null;
  const share = (k: PiiKind) => s.found[k] / s.values;
  if (share('email') >= 0.8 && s.found.phone === 0 && s.found.postcode === 0) return { rule: '{ fake: internet.email }', why: `most sampled values are e-mail addresses (${pct(s.found.email, s.values)})` };
  const kinds = SCRUBBABLE.filter((k) => s.found[k] > 0);
  if (s.found.name / s.values >= 0.5 && kinds.length === 0) return { rule: '{ fake: person.fullName }', why: `most sampled values are person names (${pct(s.found.name, s.values)})` };
  // names in prose are scrubbed too
  if (s.found.name > 0 && kinds.length > 0) kinds.push('name');
  if (kinds.length > 0) return { rule: `{ scrub: [${kinds.join(', ')}] }`, why: `free text: ${found(s)}` };
  if (s.found.card || s.found.nino) return { rule: '{ hash: { length: 16 } }', why: `${found(s)}: replaced by a keyed hash` };
  if (s.found.name > 0) return { rule: '{ scrub: [name] }', why: `free text: ${found(s)} (names replaced by fake names)` };
  return null;
}

const isJsonType = (type: string) => /^jsonb?$/i.test(type.trim());
const yamlKey = (s: string) => (/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(s) && !/^(true|false|null|yes|no|on|off|y|n)$/i.test(s) ? s : JSON.stringify(s));

function jsonRule(s: ColumnScan): Suggestion | null {
  if (!s.keys) return null;
  const parts: string[] = [];
  const whys: string[] = [];
  for (const [path, k] of Object.entries(s.keys)) {
    const segments = path.split(JSON_PATH_SEP);
    const key = segments[segments.length - 1]!;
    const asCol: ColumnScan = { values: k.values, nulls: 0, found: k.found };
    // a key that is itself data (an e-mail address as a key) must not be copied into the rules file,
    // and json rules rewrite values, not keys: the whole document goes
    if (segments.some((seg) => !matches(seg).next().done))
      return { rule: '{ value: "{}" }', why: 'some JSON keys are themselves personal data (json rules rewrite values, not keys): the document is emptied' };
    // a key no rule can name (`==` of a JSON-logic expression): nothing to do unless its values are personal
    if (segments.some((seg) => !/^[\p{L}\p{N}_ .:@+-]{1,63}$/u.test(seg))) {
      if (byValues(asCol)) return { rule: '{ value: "{}" }', why: 'personal data under a JSON key no rule can name: the document is emptied' };
      continue;
    }
    // `name` in JSON is a form's person, unless enough of its values were read and none is a name
    // (an experiment's or a product's name, copied into a change log)
    const namedThing = key.toLowerCase() === 'name' && k.values >= 5 && k.found.name === 0;
    const sug = (namedThing ? null : byName(key, { unique: false, hasId: false, isJsonKey: true })) ?? byValues(asCol);
    if (sug && sug.rule !== 'keep') {
      // a dot inside a key is escaped, so the rule means the key and not a path; a nested key is a path
      const rulePath = segments.map(jsonKeySegment).join('.');
      parts.push(`${yamlKey(rulePath)}: ${sug.rule}`);
      whys.push(segments.join('.'));
    }
  }
  if (parts.length === 0) return null;
  return { rule: `{ json: { ${[...parts, '"*": keep'].join(', ')} } }`, why: `JSON keys holding personal data: ${whys.join(', ')}; other keys kept` };
}

/**
 * A suggestion made to fit its column, so that the draft passes `check`'s restorability proofs: what
 * the rule writes must be of the column's type, fit its length, stay unique on a UNIQUE column and
 * never be NULL in a NOT NULL one.
 */
function fitToColumn(sug: Suggestion, col: TableSchema['columns'][number], unique: boolean, hasId: boolean): Suggestion {
  const rule = sug.rule;
  if (rule === 'keep' || rule.startsWith('{ keep:')) return sug;
  const t = col.type.toLowerCase();
  const nullOr = (fallback: string) => (col.notNull ? fallback : 'null');
  const kind = /^\{ (\w+)/.exec(rule)?.[1] ?? rule;
  if (t.endsWith('[]')) {
    return kind === 'scrub' ? sug : { rule: '{ scrub: [email, phone, postcode, ip] }', why: `${sug.why}; an array: the personal data in its elements is replaced` };
  }
  // kinds that keep a date's or a number's shape fit those columns as they are
  const timeKind = kind === 'generalise' && /year|month|day|hour/.test(rule);
  const numberKind = kind === 'noise' && rule.includes('ratio');
  if (/^(date|timestamp|time)/.test(t)) return timeKind ? sug : { rule: nullOr('{ value: "1900-01-01" }'), why: `${sug.why}; a ${col.type}: a fake or hash would not be one` };
  if (/^(smallint|integer|bigint|numeric|real|double)/.test(t)) return numberKind ? sug : { rule: nullOr('keep'), why: `${sug.why}; a number: REVIEW (a fake or hash would not be one)` };
  if (timeKind || numberKind) return { rule: nullOr('keep'), why: `${sug.why}; but a ${col.type}: REVIEW` };
  if (t === 'uuid') return { rule: '{ fake: string.uuid }', why: `${sug.why}; a uuid` };
  if (t === 'cidr') return { rule: nullOr('keep'), why: `${sug.why}; a network (cidr): REVIEW` };
  if (t === 'inet') return { rule: unique ? nullOr('keep') : '{ fake: internet.ipv4 }', why: `${sug.why}; an inet` };
  // a MAC address is a device's, not a street's: whatever the name says, the type decides
  if (t === 'macaddr' || t === 'macaddr8') return { rule: unique ? nullOr('keep') : '{ fake: internet.mac }', why: `a ${t}: a device's address, replaced by a fake one whatever the name says${unique ? ' (UNIQUE: REVIEW)' : ''}` };
  const n = /^(?:character varying|varchar|character|char)\((\d+)\)/.exec(t)?.[1];
  const max = n === undefined ? Infinity : Number(n);
  if (unique && (kind === 'scrub' || kind === 'mask' || kind === 'value' || (kind === 'hash' && !/length: (1[6-9]|[2-6]\d)/.test(rule)) || (kind === 'fake' && !rule.includes('unique: true')))) {
    if (max >= 16) return { rule: '{ hash: { length: 16 } }', why: `${sug.why}; UNIQUE: a keyed hash keeps it unique` };
    if (hasId) return { rule: '{ template: "{id}" }', why: `${sug.why}; UNIQUE and short: the row's id keeps it unique` };
    return { rule: nullOr('keep'), why: `${sug.why}; UNIQUE and at most ${max} characters: REVIEW` };
  }
  if (kind === 'hash') {
    const len = Number(/length: (\d+)/.exec(rule)?.[1] ?? 16);
    if (len > max) return { rule: `{ hash: { length: ${Math.max(4, Math.min(max, 64))} } }`, why: `${sug.why}; at most ${max} characters` };
  }
  if (kind === 'fake' && max < 32) return { rule: max >= 4 ? `{ hash: { length: ${Math.min(max, 64)} } }` : nullOr('{ value: "" }'), why: `${sug.why}; at most ${max} characters: a fake may not fit` };
  return sug;
}

function suggest(col: TableSchema['columns'][number], schema: TableSchema, s: ColumnScan | undefined, table: string, copied?: CopiedNames): Suggestion {
  const hasId = schema.columns.some((c) => c.name === 'id');
  const unique = schema.unique.includes(col.name);
  let fitted = suggestRule(col, schema, s, hasId, unique, table);
  // a column kept as it is, whose text holds the very names another column's rule replaces (Northwind's
  // "Ana Trujillo Emparedados y helados" beside contact "Ana Trujillo", and every order shipped to it):
  // kept, it would carry the replaced names out
  const from = fitted.rule === 'keep' && s?.innerPairs && copied ? copiedFrom(s.innerPairs, copied) : null;
  if (from) fitted = { rule: '{ scrub: [name] }', why: `${fitted.why}; holds ${from.count} name(s) that ${from.column} replaces (a business named after its owner?): REVIEW` };
  return col.type ? fitToColumn(fitted, col, unique, hasId) : fitted;
}

/** The values of columns the draft rewrites that are one capitalised pair ("Ana Trujillo"), each with its column. */
type CopiedNames = Map<string, string>;

function rewrittenNames(res: ScanResult, keys: string[], name: (key: string) => string): CopiedNames {
  const out: CopiedNames = new Map();
  for (const key of keys) {
    const schema = res.schema[key]!;
    if (schema.parent) continue;
    const scans = withPartitions(res, key);
    for (const col of schema.columns) {
      const s = scans[col.name];
      if (!s?.wholePairs || col.generated) continue;
      const rule = suggest(col, schema, s, name(key)).rule;
      if (rule === 'keep' || rule.startsWith('{ keep:')) continue;
      for (const p of s.wholePairs) if (!out.has(p)) out.set(p, `${name(key)}.${col.name}`);
    }
  }
  return out;
}

function copiedFrom(pairs: ReadonlySet<string>, copied: CopiedNames): { count: number; column: string } | null {
  let count = 0;
  let column = '';
  for (const p of pairs) {
    const c = copied.get(p);
    if (c === undefined) continue;
    count++;
    column ||= c;
  }
  return count ? { count, column } : null;
}

/** Framework tables that describe the application, not its users (Django, Rails, Flyway, Alembic, Wagtail). */
const LOOKUP_TABLE = /(^|\.)(django_migrations|django_content_type|auth_permission|schema_migrations|ar_internal_metadata|flyway_schema_history|alembic_version|knex_migrations|wagtailcore_locale)$/;

/** Columns of places and field labels: a value that is also a person's name (Florence) is the place's. */
const NOT_PEOPLE = /(^|_)(city|town|country|region|state|county|province|district|territory|locality|suburb|label)(_?name|_description)?$/;

/** Free text of a table that may hold notes about people: scrubbed, never kept unread. */
const FREE_TEXT = /^(comments?|notes?|message|body|description|details|text|content|journal|remarks?|reason|feedback)$/;
/** Change logs and audit trails: copies of whole rows, personal ones included. */
const CHANGE_LOG_TABLE = /change|log|audit|history|version|revision|journal/;
const CHANGE_LOG_COLUMN = /data|changes?|diff|snapshot|object|payload|before|after|serialized/;

function suggestRule(col: TableSchema['columns'][number], schema: TableSchema, s: ColumnScan | undefined, hasId: boolean, unique: boolean, table: string): Suggestion {
  const type = col.type || 'type unknown';
  const has = (c: string) => schema.columns.some((x) => x.name === c);
  const named = byName(col.name, { unique, hasId, isJsonKey: false, table, has });
  if (named) return { rule: named.rule, why: `${named.why}; ${type}; ${found(s)}` };
  // JSON columns, and text columns whose values are JSON documents: a rule per key, never one fake for
  // the whole document (which a json-reading application would then fail on)
  if (s && (isJsonType(col.type) || (s.jsonDocs ?? 0) >= s.values * 0.8)) {
    const j = jsonRule(s);
    if (j) return { rule: j.rule, why: `${type}${isJsonType(col.type) ? '' : ' holding JSON documents'}; ${j.why}` };
  }
  // a table empty in this dump is drafted by its names and types: what it will hold in production
  if (!s || s.values === 0) {
    const t = col.type.toLowerCase();
    if ((/^jsonb?$/.test(t) || t === 'text') && CHANGE_LOG_TABLE.test(table) && CHANGE_LOG_COLUMN.test(col.name.toLowerCase()))
      return { rule: col.notNull ? '{ value: "{}" }' : 'null', why: `${type}; a change log's copy of a row (personal rows included)` };
    if (FREE_TEXT.test(col.name.toLowerCase()) && /^(text|character varying)/.test(t))
      return { rule: '{ scrub: [email, phone, postcode, ip, address, name] }', why: `${type}; free text about people: REVIEW` };
  }
  // places and labels whose values are also person names (Florence, Lincoln, a form field "Name"): kept,
  // with the reason said, so that scan --fail-on-pii -r reports them without failing on them
  if (s && s.found.name > 0 && SCRUBBABLE.every((k) => s.found[k] === 0) && !s.found.card && !s.found.nino && NOT_PEOPLE.test(col.name.toLowerCase()))
    return { rule: `{ keep: "${NOT_PEOPLE.exec(col.name.toLowerCase())![2]} names, not people (review)" }`, why: `${type}; ${found(s)}: names of places or fields that are also person names` };
  const v = byValues(s);
  if (v) {
    // a UNIQUE column must stay unique
    const rule = unique && v.rule.startsWith('{ fake:') ? v.rule.replace(' }', ', unique: true }') : v.rule;
    return { rule, why: `${type}${unique ? ', UNIQUE' : ''}; ${v.why}` };
  }
  return { rule: 'keep', why: `${type}; ${found(s)}` };
}

/** Objects whose secrets the engine always removes: a `secret` finding there needs no rule. */
const SECRETS_REMOVED = /^(SERVER|USER MAPPING|SUBSCRIPTION|FOREIGN DATA WRAPPER|CREATE ROLE|ALTER ROLE|CREATE USER|ALTER USER)\b/;

/**
 * The policy for what lies outside the rows, written out with its defaults; definitions where the scan
 * found personal data get a `scrub` of their own (a run under `literals: fail` would stop there), and
 * role names that look like e-mail addresses get pseudonyms.
 */
function outsideDraft(res: ScanResult): string[] {
  const flagged: [string, string[]][] = [];
  let roleEmails = false;
  for (const [object, s] of Object.entries(res.objects ?? {})) {
    const kinds = Object.entries(s.found)
      .filter(([k, n]) => n > 0 && k !== 'name' && !(k === 'secret' && SECRETS_REMOVED.test(object)))
      .map(([k]) => k);
    if (kinds.length === 0) continue;
    if (/ROLE|USER/.test(object) && kinds.includes('email')) roleEmails = true;
    // comments are scrubbed and statistics stripped by default; the rest would stop the run
    if (/^COMMENT |^SECURITY LABEL |^STATISTICS DATA /.test(object)) continue;
    flagged.push([object, kinds]);
  }
  const lines = [
    'outside:               # what lies outside the rows (docs/formats.md: "Outside the rows")',
    '  statistics: safe     # pg_dump --statistics: values of columns not kept are removed',
    '  comments: scrub      # personal data in COMMENT ON / SECURITY LABEL becomes fakes',
    '  literals: fail       # personal data in a definition (DEFAULT, CHECK, view, function…) stops the run, naming it',
    `  roles: ${roleEmails ? 'pseudonymise  # role names that look like e-mail addresses were found' : 'keep           # or pseudonymise: role names become role_<hash>'}`,
  ];
  if (flagged.length) {
    lines.push('  objects:             # definitions where scan found personal data: scrub replaces the matches in place');
    for (const [object, kinds] of flagged.sort()) lines.push(`    ${JSON.stringify(object)}: scrub    # found: ${kinds.join(', ')}`);
  }
  return lines;
}

export function draftRules(res: ScanResult, opts: { source: string; sampleRows: number }): string {
  if (res.unknownColumns?.length) {
    const names = res.unknownColumns.slice(0, 5).join(', ') + (res.unknownColumns.length > 5 ? `, … (${res.unknownColumns.length - 5} more)` : '');
    throw new AnonymiseError(
      'UNSUPPORTED',
      `init cannot name the columns of ${res.unknownColumns.length} table(s) (${names}): their INSERTs have no column list and the dump has no CREATE TABLE (a --data-only --inserts dump); give --schema FILE (a pg_dump --schema-only of the same database), or dump with --column-inserts, or without --data-only`,
    );
  }
  const sampled = Number.isFinite(opts.sampleRows) ? `up to ${opts.sampleRows} rows per table` : 'every row of every table';
  const lines = [
    `# Draft rules written by \`anonymise-dump init\` from ${opts.source}.`,
    `# Suggestions come from column names, types and ${sampled}.`,
    '# Read every line before use: a column kept here is copied as it is.',
    'version: 1',
    'unknown: fail          # a table or column added later stops the run until it has a rule',
    ...outsideDraft(res),
  ];
  if (!res.databases?.length) {
    const keys = Object.keys(res.schema).sort();
    lines.push('tables:', ...tableLines(res, keys, '  ', (k) => k, rewrittenNames(res, keys, (k) => k)));
    return lines.join('\n') + '\n';
  }
  // pg_dumpall: each database's tables under its own name
  lines.push('databases:');
  for (const db of res.databases) {
    const prefix = `${db}/`;
    const keys = Object.keys(res.schema).filter((k) => k.startsWith(prefix)).sort();
    const name = (k: string) => k.slice(prefix.length);
    lines.push(`  ${yamlKey(db)}:`, '    tables:' + (keys.length ? '' : ' {}'), ...tableLines(res, keys, '      ', name, rewrittenNames(res, keys, name)));
  }
  return lines.join('\n') + '\n';
}

/** The draft's entries for `keys` of the scan, at `indent`, named by `name(key)`; `copied`: names rewritten elsewhere. */
function tableLines(res: ScanResult, keys: string[], indent: string, name: (key: string) => string, copied: CopiedNames): string[] {
  const lines: string[] = [];
  for (const key of keys) {
    const schema = res.schema[key]!;
    const table = name(key);
    if (schema.parent) continue; // a partition follows its parent's rule
    if (table === 'pg_catalog.pg_largeobject') {
      lines.push(`${indent}${yamlKey(table)}: drop    # large-object contents (binary, not read): keep them only if they hold nothing personal`);
      continue;
    }
    if (/(^|[._])(django_)?session$/.test(table)) {
      lines.push(`${indent}${yamlKey(table)}: drop    # sessions hold signed payloads with user ids and IPs`);
      continue;
    }
    const cols = schema.columns.filter((c) => !c.generated);
    // a framework's own lookup tables: kept whole, so that a subset keeps every row (what the seeds'
    // rows refer to) instead of none; a personal finding in one still gets column rules
    if (LOOKUP_TABLE.test(table) && Object.values(withPartitions(res, key)).every((s) => PII_KINDS.every((k) => s.found[k] === 0))) {
      lines.push(`${indent}${yamlKey(table)}: keep    # a framework's lookup table (migrations, content types, permissions): kept whole, so a subset keeps every row`);
      continue;
    }
    if (cols.length === 0) {
      lines.push(`${indent}${yamlKey(table)}: keep    # no columns`);
      continue;
    }
    lines.push(`${indent}${yamlKey(table)}:`, `${indent}  columns:`);
    // a partitioned table's rows lie in its partitions: their samples are its own
    const scans = withPartitions(res, key);
    const empty = Object.keys(scans).length === 0;
    const rendered = cols.map((c) => {
      const s = suggest(c, schema, scans[c.name], table, copied);
      return [`${indent}    ${yamlKey(c.name)}: ${s.rule}`, empty ? `${s.why} (no rows in this dump)` : s.why] as const;
    });
    const width = Math.min(60, Math.max(...rendered.map(([l]) => l.length)));
    for (const [l, why] of rendered) lines.push(`${l.padEnd(width)}  # ${why}`);
  }
  return lines;
}

/** A table's column scans with those of every partition below it (at any depth) added in. */
function withPartitions(res: ScanResult, key: string): Record<string, ColumnScan> {
  // (in a pg_dumpall dump keys are db/schema.table and a partition names its parent within its database)
  const slash = key.indexOf('/');
  const db = slash === -1 ? '' : key.slice(0, slash + 1);
  const below = (k: string, depth = 0): string[] =>
    depth > 32 ? [] : Object.keys(res.schema).filter((c) => c.startsWith(db) && res.schema[c]!.parent !== undefined && db + res.schema[c]!.parent === k).flatMap((c) => [c, ...below(c, depth + 1)]);
  const parts = below(key);
  if (parts.length === 0) return res.tables[key] ?? {};
  const out: Record<string, ColumnScan> = {};
  for (const t of [key, ...parts])
    for (const [col, s] of Object.entries(res.tables[t] ?? {})) {
      const m = (out[col] ??= { values: 0, nulls: 0, found: Object.fromEntries(Object.keys(s.found).map((k) => [k, 0])) as ColumnScan['found'] });
      m.values += s.values;
      m.nulls += s.nulls;
      for (const [k, n] of Object.entries(s.found)) m.found[k as keyof ColumnScan['found']] += n;
      if (s.jsonDocs !== undefined) m.jsonDocs = (m.jsonDocs ?? 0) + s.jsonDocs;
      for (const [jk, e] of Object.entries(s.keys ?? {})) {
        const mk = ((m.keys ??= {})[jk] ??= { values: 0, found: Object.fromEntries(Object.keys(e.found).map((k) => [k, 0])) as ColumnScan['found'] });
        mk.values += e.values;
        for (const [k, n] of Object.entries(e.found)) mk.found[k as keyof ColumnScan['found']] += n;
      }
    }
  return out;
}
