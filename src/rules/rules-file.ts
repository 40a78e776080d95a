/**
 * Reading rules files: YAML with every problem reported as `file:line: message` (exit 2), presets
 * by name from rules/, `extends`, and merging of repeated files (later files win, column by column).
 * The result is plain data; rule-compiler.ts turns it into functions.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { LineCounter, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { AnonymiseError } from '../errors.js';
import { loadModule } from '../load-module.js';
import { RulesFiles } from './file-access.js';
import { Ctx, onlyKeys, pairs, scalarInt, scalarString, type PendingFake, type PendingModule } from './yaml-reader.js';
import type { ColumnRule, Filter, JsFunction, NullPolicy, RelationRule, RulesData, SubsetSeed, TableRule, UnknownPolicy, Where } from '../contract/rules-model.js';
import { MAPPING_KEYS, RULE_KINDS, ruleKind } from './kinds/registry.js';
import { jsonKeySegment, jsonPath, parseTemplate, shown } from './syntax.js';
export { jsonKeySegment, jsonPath, parseTemplate, shown };
import type { ParseApi } from './kinds/kind.js';
import { DEFAULT_OUTSIDE, type OutsidePolicy } from '../contract/outside-policy.js';

const OUTSIDE_CHOICES = {
  statistics: ['safe', 'drop', 'keep'],
  comments: ['scrub', 'keep', 'drop'],
  literals: ['fail', 'scrub', 'keep'],
  roles: ['keep', 'pseudonymise'],
} as const;

/** `outside:` — each key overrides the default; `objects` adds per-object overrides by label glob. */
function readOutside(ctx: Ctx, node: unknown, into: OutsidePolicy): void {
  const items = pairs(ctx, node, 'outside');
  onlyKeys(ctx, items, [...Object.keys(OUTSIDE_CHOICES), 'objects'], 'outside');
  for (const { key, value } of items) {
    if (key === 'objects') {
      for (const o of pairs(ctx, value, 'outside.objects')) {
        const action = scalarString(ctx, o.value, `outside.objects entry`);
        if (action !== 'keep' && action !== 'scrub' && action !== 'drop') ctx.fail(o.value as Node, 'an outside.objects entry must be keep, scrub or drop');
        const re = new RegExp(`^${o.key.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
        into.objects = [{ pattern: o.key, re, action }, ...into.objects.filter((x) => x.pattern !== o.key)];
      }
      continue;
    }
    const choices = OUTSIDE_CHOICES[key as keyof typeof OUTSIDE_CHOICES] as readonly string[];
    const v = scalarString(ctx, value, `outside.${key}`);
    if (!choices.includes(v)) ctx.fail(value as Node, `outside.${key} must be ${choices.join(', ')}`);
    (into as unknown as Record<string, string>)[key] = v;
  }
}

const PRESET_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'rules');

/** A rules file's text; anything but a regular file (a directory, a device, /proc) is refused. */
function readRulesFile(path: string, what: string, at?: Where): string {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new AnonymiseError(at ? 'RULES' : 'USAGE', `cannot read ${what}: no such file`, at ?? {});
  }
  if (!st.isFile()) throw new AnonymiseError(at ? 'RULES' : 'USAGE', `${what} is not a regular file`, at ?? {});
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new AnonymiseError(at ? 'RULES' : 'USAGE', `cannot read ${what}`, at ?? {});
  }
}



function parseColumnRule(ctx: Ctx, node: unknown, what: string): ColumnRule {
  const where = ctx.where(node as Node);
  if (isScalar(node)) {
    const bare = RULE_KINDS.find((k) => k.bare?.includes(node.value as string | null));
    if (bare?.fromBare) return bare.fromBare(where);
    ctx.fail(node, `${what}: unknown rule ${typeof node.value === 'string' ? shown(node.value) : String(node.value)} (expected keep, null, or a mapping with one of ${MAPPING_KEYS.join(', ')})`);
  }
  const items = pairs(ctx, node, what);
  const ruleKeys = items.filter((it) => MAPPING_KEYS.includes(it.key));
  if (ruleKeys.length !== 1) ctx.fail(node as Node, `${what}: a column rule needs exactly one of ${MAPPING_KEYS.join(', ')}`);
  const { key, value: v } = ruleKeys[0]!;
  const kind = ruleKind(key as ColumnRule['kind']);
  onlyKeys(ctx, items, [key, ...(kind.options ?? [])], what);
  const opts = new Map(items.filter((it) => it.key !== key).map((it) => [it.key, { value: it.value, at: ctx.where(it.value as Node) }]));
  let nulls: NullPolicy = 'keep';
  const nullsItem = opts.get('nulls');
  if (nullsItem) {
    const s = scalarString(ctx, nullsItem.value, 'nulls');
    if (s !== 'keep' && s !== 'replace') ctx.fail(nullsItem.value as Node, 'nulls must be keep or replace');
    nulls = s;
  }
  return kind.parse(v, parseApi(ctx, what, where, nulls), opts);
}

/** What a rule kind may ask of the reader (kinds/kind.ts), over this file's YAML. */
function parseApi(ctx: Ctx, what: string, where: Where, nulls: NullPolicy): ParseApi {
  return {
    what,
    where,
    nulls,
    fail: (node, message) => ctx.fail(node as Node, message),
    at: (node) => ctx.where(node as Node),
    string: (node, w) => scalarString(ctx, node, w),
    scalar: (node, message) => {
      if (!isScalar(node)) ctx.fail(node as Node, message);
      return node.value;
    },
    int: (node, w, min, max) => scalarInt(ctx, node, w, min, max),
    bool: (node, w) => {
      if (!isScalar(node) || typeof node.value !== 'boolean') ctx.fail(node as Node, `${w} must be true or false`);
      return node.value;
    },
    options: (node, w, allowed) => {
      const items = pairs(ctx, node, w);
      if (allowed.length) onlyKeys(ctx, items, allowed, w);
      return items.map((it) => ({ key: it.key, value: it.value, at: ctx.where(it.value as Node), node: it.pair.key }));
    },
    list: (node) => (isSeq(node) ? node.items : null),
    isNull: (node) => node === null || (isScalar(node) && node.value === null),
    isScalar: (node) => isScalar(node),
    rule: (node, w) => parseColumnRule(ctx, node, w),
    filter: (node, w) => parseFilter(ctx, node, w),
    needsFaker: (spec, methodAt, localeAt) => ctx.fakes.push({ spec, methodAt, localeAt }),
    localFile: (node, path, w) => ctx.localFile(node as Node, path, w),
    needsModule: (file, name, at) => {
      const key = `${file}#${name}`;
      if (!ctx.modules.some((m) => m.key === key)) ctx.modules.push({ file, name, key, at });
      return key;
    },
  };
}

function parseFilter(ctx: Ctx, node: unknown, what: string): Filter {
  const f: Filter = new Map();
  for (const it of pairs(ctx, node, what)) {
    const list = isSeq(it.value) ? it.value.items : [it.value];
    f.set(
      it.key,
      list.map((x) => {
        if (!isScalar(x)) ctx.fail(x as Node, `${what}: values must be strings, numbers, booleans or null`);
        const val = x.value;
        if (val === null) return null;
        if (typeof val === 'boolean') return val ? 't' : 'f';
        if (typeof val !== 'string' && typeof val !== 'number') ctx.fail(x, `${what}: values must be strings, numbers, booleans or null`);
        return String(val);
      }),
    );
  }
  if (f.size === 0) ctx.fail(node as Node, `${what} must name at least one column`);
  return f;
}

/** Template references must not form a cycle (a → b → a). */
function checkTemplateCycles(ctx: Ctx, table: string, columns: Map<string, ColumnRule>): void {
  const state = new Map<string, 1 | 2>();
  const visit = (col: string, path: string[]): void => {
    const rule = columns.get(col);
    if (!rule || rule.kind !== 'template') return;
    if (state.get(col) === 2) return;
    if (state.get(col) === 1) {
      throw new AnonymiseError('RULES', `template cycle in ${table}: ${[...path, col].join(' → ')}`, rule.where);
    }
    state.set(col, 1);
    for (const p of rule.parts) if (typeof p !== 'string') visit(p.ref, [...path, col]);
    state.set(col, 2);
  };
  void ctx;
  for (const col of columns.keys()) visit(col, []);
}

/** `users_user` → `public.users_user`; `sales.order items` stays. */
export function qualify(name: string): string {
  return name.includes('.') ? name : `public.${name}`;
}

function parseTableRule(ctx: Ctx, node: unknown, table: string): TableRule {
  const where = ctx.where(node as Node);
  if (isScalar(node)) {
    if (node.value === 'keep') return { kind: 'keep', where };
    if (node.value === 'drop') return { kind: 'drop', where };
    ctx.fail(node, `table ${table}: expected keep, drop, or a mapping with columns`);
  }
  const items = pairs(ctx, node, `table ${table}`);
  onlyKeys(ctx, items, ['columns', 'drop_where', 'keep_where', 'column_order', 'quasi_identifiers'], `table ${table}`);
  const colsItem = items.find((it) => it.key === 'columns');
  if (!colsItem) ctx.fail(node as Node, `table ${table}: a mapping needs columns (use keep or drop for the whole table)`);
  const columns = new Map<string, ColumnRule>();
  for (const it of pairs(ctx, colsItem.value, `table ${table} columns`))
    columns.set(it.key, parseColumnRule(ctx, it.value, `column ${table}.${it.key}`));
  checkTemplateCycles(ctx, table, columns);
  const rule: TableRule = { kind: 'columns', columns, where };
  const dw = items.find((it) => it.key === 'drop_where');
  const kw = items.find((it) => it.key === 'keep_where');
  if (dw) rule.dropWhere = parseFilter(ctx, dw.value, `table ${table} drop_where`);
  if (kw) rule.keepWhere = parseFilter(ctx, kw.value, `table ${table} keep_where`);
  const co = items.find((it) => it.key === 'column_order');
  if (co) {
    if (!isSeq(co.value) || co.value.items.length === 0) ctx.fail(co.value as Node, `table ${table}: column_order must be a list of column names`);
    rule.columnOrder = co.value.items.map((x) => scalarString(ctx, x, 'a column_order entry'));
  }
  const qi = items.find((it) => it.key === 'quasi_identifiers');
  if (qi) {
    if (!isSeq(qi.value) || qi.value.items.length === 0) ctx.fail(qi.value as Node, `table ${table}: quasi_identifiers must be a list of column names (what \`risk\` groups rows by)`);
    rule.quasiIdentifiers = qi.value.items.map((x) => scalarString(ctx, x, 'a quasi_identifiers entry'));
  }
  return rule;
}

function mergeTable(old: TableRule | undefined, next: TableRule): TableRule {
  if (!old || old.kind !== 'columns' || next.kind !== 'columns') return next;
  const columns = new Map(old.columns);
  for (const [k, v] of next.columns) columns.set(k, v);
  return {
    kind: 'columns',
    columns,
    dropWhere: next.dropWhere ?? old.dropWhere,
    keepWhere: next.keepWhere ?? old.keepWhere,
    columnOrder: next.columnOrder ?? old.columnOrder,
    quasiIdentifiers: next.quasiIdentifiers ?? old.quasiIdentifiers,
    where: next.where,
  };
}

/** Rules from shipped presets name tables a given site may not have: no "names nothing" warning for them. */
export function isPresetFile(file: string): boolean {
  return resolve(file).startsWith(PRESET_DIR + '/') && !resolve(file).includes('/examples/');
}

export function presetPath(name: string): string {
  return resolve(PRESET_DIR, `${name}.yaml`);
}

interface Loading {
  fakes: PendingFake[];
  modules: PendingModule[];
  files: RulesFiles;
}

function loadInto(acc: RulesData, file: string, text: string, seen: string[], loading: Loading): void {
  if (seen.includes(file)) throw new AnonymiseError('RULES', `extends cycle: ${[...seen, file].join(' → ')}`, { file });
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const ctx: Ctx = new Ctx(file, lc, loading.fakes, loading.modules, loading.files);
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line;
    throw new AnonymiseError('RULES', e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''), { file, line });
  }
  const root = doc.contents;
  if (root === null) ctx.fail(root, 'the rules file is empty (expected version: 1 and tables)');
  const items = pairs(ctx, root, 'the rules file');
  onlyKeys(ctx, items, ['version', 'extends', 'unknown', 'outside', 'tables', 'databases', 'relations', 'subset', 'subset_follow'], 'the rules file');
  const version = items.find((it) => it.key === 'version');
  if (!version) ctx.fail(root, 'version: 1 is required');
  if (!isScalar(version.value) || version.value.value !== 1) ctx.fail(version.value as Node, 'only version: 1 is supported');
  const ext = items.find((it) => it.key === 'extends');
  if (ext) {
    const list = isSeq(ext.value) ? ext.value.items : [ext.value];
    for (const entry of list) {
      const name = scalarString(ctx, entry, 'extends entry');
      const isPath = name.includes('/') || name.endsWith('.yaml') || name.endsWith('.yml');
      if (!/^[A-Za-z0-9_-]+$/.test(name) && !isPath) ctx.fail(entry as Node, `extends: ${shown(name)} is not a preset name or a path`);
      if (!isPath && !existsSync(presetPath(name))) ctx.fail(entry as Node, `extends: no preset named ${shown(name)}`);
      const path = isPath ? ctx.localFile(entry as Node, name, 'extends:') : presetPath(name);
      loadInto(acc, path, readRulesFile(path, `extends: ${shown(name)}`, ctx.where(entry as Node)), [...seen, file], loading);
    }
  }
  const unk = items.find((it) => it.key === 'unknown');
  if (unk) acc.unknown = readPolicy(ctx, unk.value);
  const outside = items.find((it) => it.key === 'outside');
  if (outside) readOutside(ctx, outside.value, acc.outside);
  readTables(ctx, items.find((it) => it.key === 'tables')?.value, acc.tables);
  const dbs = items.find((it) => it.key === 'databases');
  if (dbs) {
    for (const db of pairs(ctx, dbs.value, 'databases')) {
      const dbItems = pairs(ctx, db.value, `database ${db.key}`);
      onlyKeys(ctx, dbItems, ['unknown', 'tables'], `database ${db.key}`);
      let entry = acc.databases.get(db.key);
      if (!entry) acc.databases.set(db.key, (entry = { tables: new Map() }));
      const u = dbItems.find((it) => it.key === 'unknown');
      if (u) entry.unknown = readPolicy(ctx, u.value);
      readTables(ctx, dbItems.find((it) => it.key === 'tables')?.value, entry.tables);
    }
  }
  const rel = items.find((it) => it.key === 'relations');
  if (rel) readRelations(ctx, rel.value, (acc.relations ??= new Map()));
  const subset = items.find((it) => it.key === 'subset');
  if (subset) acc.subset = readSubset(ctx, subset.value);
  const follow = items.find((it) => it.key === 'subset_follow');
  if (follow) {
    const v = scalarString(ctx, follow.value, 'subset_follow');
    if (v !== 'parents' && v !== 'parents_and_children') ctx.fail(follow.value as Node, 'subset_follow must be parents or parents_and_children');
    acc.subsetFollow = v;
  }
  acc.files.push(file);
}

/** `schema.table.column` (schema optional: public), split; quoted names are not supported here. */
function columnPath(ctx: Ctx, node: unknown, text: string, what: string): { table: string; column: string } {
  const parts = text.split('.');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) ctx.fail(node as Node, `${what} must be table.column or schema.table.column`);
  const column = parts.pop()!;
  return { table: qualify(parts.join('.')), column };
}

function readRelations(ctx: Ctx, node: unknown, into: Map<string, RelationRule>): void {
  if (node === undefined || (isScalar(node) && node.value === null)) return;
  for (const it of pairs(ctx, node, 'relations')) {
    const { table, column } = columnPath(ctx, it.pair.key, it.key, `relations: ${shown(it.key)}`);
    const what = `relation ${table}.${column}`;
    const items = pairs(ctx, it.value, what);
    onlyKeys(ctx, items, ['references', 'on_forget', 'content_type', 'decode'], what);
    const rule: RelationRule = { ...(into.get(`${table}.${column}`) ?? {}), table, column, where: ctx.where(it.pair.key as Node) };
    for (const { key, value } of items) {
      const v = scalarString(ctx, value, `${what}: ${key}`);
      if (key === 'references') rule.references = columnPath(ctx, value, v, `${what}: references`);
      else if (key === 'on_forget') {
        if (v !== 'cascade' && v !== 'set_null' && v !== 'keep') ctx.fail(value as Node, `${what}: on_forget must be cascade, set_null or keep`);
        rule.onForget = v;
      } else if (key === 'content_type') rule.contentType = v;
      else if (key === 'decode') {
        if (v !== 'django_session') ctx.fail(value as Node, `${what}: decode must be django_session`);
        rule.decode = v;
      }
    }
    if (rule.contentType && rule.references) ctx.fail(it.value as Node, `${what}: a generic relation (content_type) finds its table from the content type; it takes no references`);
    if (rule.decode && !rule.references) ctx.fail(it.value as Node, `${what}: decode needs references (the table.column the decoded id refers to)`);
    into.set(`${table}.${column}`, rule);
  }
}

function readSubset(ctx: Ctx, node: unknown): SubsetSeed[] {
  if (!isSeq(node)) ctx.fail(node as Node, 'subset must be a list of { table, where, percent }');
  return node.items.map((entry) => {
    const items = pairs(ctx, entry, 'a subset entry');
    onlyKeys(ctx, items, ['table', 'where', 'percent'], 'a subset entry');
    const t = items.find((i) => i.key === 'table');
    if (!t) ctx.fail(entry as Node, 'a subset entry needs table');
    const seed: SubsetSeed = { table: qualify(scalarString(ctx, t.value, 'subset table')), where: ctx.where(entry as Node) };
    const w = items.find((i) => i.key === 'where');
    if (w) seed.filter = parseFilter(ctx, w.value, `subset where of ${seed.table}`);
    const pc = items.find((i) => i.key === 'percent');
    if (pc) {
      const v = isScalar(pc.value) ? pc.value.value : null;
      if (typeof v !== 'number' || !(v > 0 && v <= 100)) ctx.fail(pc.value as Node, 'subset percent must be a number above 0 and at most 100');
      seed.percent = v;
    }
    return seed;
  });
}

function readPolicy(ctx: Ctx, node: unknown): UnknownPolicy {
  // `unknown: null` reads as YAML's null
  const u = isScalar(node) && node.value === null ? 'null' : scalarString(ctx, node, 'unknown');
  if (u !== 'fail' && u !== 'keep' && u !== 'null') ctx.fail(node as Node, 'unknown must be fail, keep or null');
  return u;
}

function readTables(ctx: Ctx, node: unknown, into: Map<string, TableRule>): void {
  if (node === undefined || (isScalar(node) && node.value === null)) return;
  for (const it of pairs(ctx, node, 'tables')) {
    const key = qualify(it.key);
    into.set(key, mergeTable(into.get(key), parseTableRule(ctx, it.value, key)));
  }
}

/** The rules for one database of a pg_dumpall dump: its own tables over the top-level ones. */
export function rulesForDatabase(data: RulesData, db: string): RulesData {
  const own = data.databases.get(db);
  if (!own) return data;
  const tables = new Map(data.tables);
  for (const [k, v] of own.tables) tables.set(k, mergeTable(tables.get(k), v));
  return { ...data, unknown: own.unknown ?? data.unknown, tables };
}

/**
 * What becomes of `js:` rules, which run the team's code: `run` loads their modules (the command line's
 * --allow-js); `skip` reads the rules without loading them (check, find, scan: commands that write no
 * rewritten value); `refuse` stops at the first one, saying how to allow it.
 */
export type JsPolicy = 'run' | 'skip' | 'refuse';

/**
 * Every rules file a read took in, by its sha256 as it is now (rules given as text through the library
 * have no file to digest): for the report, a plan, and a worker's check that it read what the run did.
 */
export function rulesDigests(files: readonly string[]): { file: string; sha256: string }[] {
  return files.filter((f) => existsSync(f)).map((file) => ({ file, sha256: createHash('sha256').update(readFileSync(file)).digest('hex') }));
}

/** Loads and merges rules files in order (later ones win). Throws AnonymiseError('RULES') on any problem. */
export async function loadRules(files: { path: string; text?: string }[], js: JsPolicy = 'refuse'): Promise<RulesData> {
  const acc: RulesData = { unknown: 'fail', outside: { ...DEFAULT_OUTSIDE, objects: [] }, tables: new Map(), files: [], databases: new Map() };
  const loading: Loading = { fakes: [], modules: [], files: new RulesFiles(files.map((f) => f.path), PRESET_DIR) };
  const { fakes, modules } = loading;
  for (const f of files) {
    const text = f.text ?? readRulesFile(f.path, `rules file ${f.path}`);
    loadInto(acc, f.path, text, [], loading);
  }
  if (modules.length > 0 && js === 'refuse')
    throw new AnonymiseError('RULES', 'a js rule runs code from the rules\' directory: review it as code, then give --allow-js to run it', modules[0]!.at);
  // skip: the plans name the function, and nothing calls it (the commands that skip write no value)
  if (js === 'skip')
    for (const m of modules)
      (acc.modules ??= new Map()).set(m.key, () => {
        throw new AnonymiseError('RULES', 'a js rule is not run by this command (only by a run given --allow-js)', m.at);
      });
  // js rules: each module loaded once, each function looked up before any output
  for (const m of js === 'run' ? modules : []) {
    let mod: Record<string, unknown>;
    try {
      mod = await loadModule<Record<string, unknown>>(pathToFileURL(m.file).href);
    } catch (e) {
      throw new AnonymiseError('RULES', `js: cannot load ${m.file} (${(e as Error)?.name ?? 'error'})`, m.at);
    }
    const fn = mod[m.name];
    if (typeof fn !== 'function') throw new AnonymiseError('RULES', `js: ${m.file} exports no function named ${shown(m.name)}`, m.at);
    (acc.modules ??= new Map()).set(m.key, fn as JsFunction);
  }
  if (fakes.length > 0) {
    const faker = await import('../pseudonym/fake.js');
    acc.fake = faker;
    await faker.loadLocales(new Set(fakes.map((f) => f.spec.locale)));
    for (const f of fakes) {
      const problem = faker.checkFakeSpec(f.spec);
      if (problem) throw new AnonymiseError('RULES', problem, problem.includes('locale') ? f.localeAt : f.methodAt);
    }
  }
  return acc;
}
