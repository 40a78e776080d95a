/**
 * One rule kind: its key in the rules file, how it reads its parameters, what it compiles to, what
 * `check` knows of its output, and what the leak check looks for. Each kind is one file in this folder;
 * the registry (registry.ts) is the one place the rules reader, the compiler, `check`, the leak check
 * and the rules reference (docs/rules.md) go through. Adding a kind is a file, its line in the registry, and its test.
 */
import type { ColumnRule, Filter, NullPolicy, RulesData, Where } from '../../contract/rules-model.js';
import type { ColumnAction, ColumnType, RowAccess } from '../../contract/plan.js';
import type * as FakeModule from '../../pseudonym/fake.js';
import type { FakeFn } from '../../pseudonym/fake.js';
import type { KeyRing } from '../../pseudonym/keys.js';
import { ByteDraft, type DraftWriter, type RangeText } from '../../text/byte-draft.js';

/** What a kind may ask of the rules reader while it reads its parameters (errors carry file:line). */
export interface ParseApi {
  /** what is being read, for messages: `column public.t.c` */
  what: string;
  where: Where;
  nulls: NullPolicy;
  fail(node: unknown, message: string): never;
  at(node: unknown): Where;
  string(node: unknown, what: string): string;
  /** a scalar's value (a string, number, boolean or null); anything else fails with `message` */
  scalar(node: unknown, message: string): unknown;
  int(node: unknown, what: string, min: number, max: number): number;
  bool(node: unknown, what: string): boolean;
  /** a mapping's entries (after checking its keys) */
  options(node: unknown, what: string, allowed: string[]): { key: string; value: unknown; at: Where; node: unknown }[];
  /** a YAML sequence's items, or null */
  list(node: unknown): unknown[] | null;
  isNull(node: unknown): boolean;
  /** a scalar (word, number, boolean), as opposed to a mapping or a list */
  isScalar(node: unknown): boolean;
  /** a nested column rule (json keys, when branches) */
  rule(node: unknown, what: string): ColumnRule;
  /** a row filter: `{ column: [values] }` (drop_where's syntax) */
  filter(node: unknown, what: string): Filter;
  /**
   * A file the rule names (`path` relative to the rules file), as a real path: only a regular, not
   * hidden file inside a command-line rules file's directory (rules/file-access.ts); otherwise fails.
   */
  localFile(node: unknown, path: string, what: string): string;
  /** a local ES module's function to load with the rules; returns its key in `RulesData.modules` */
  needsModule(file: string, name: string, at: Where): string;
  /** a faker method and locale to check once all files are read (and locales to load) */
  needsFaker(spec: { method: string; unique: boolean; locale: string }, methodAt: Where, localeAt: Where): void;
}

/** What a kind's compiled form may use. */
export interface CompileEnv {
  /** the column's declared type, where the dump says it (null: unknown, or a value inside a JSON document) */
  columnType: ColumnType | null;
  keys: KeyRing;
  data: RulesData;
  /** column name → index in the row */
  index: Map<string, number>;
  /** [table, column, json keys…], for messages */
  path: string[];
  unknown: RulesData['unknown'];
  fakeFn(rule: Extract<ColumnRule, { kind: 'fake' }>): FakeFn;
  hashFn(length: number): RangeText;
  /** a nested rule's value function (json) */
  valueFn(rule: ColumnRule, path: string[]): ValueFn;
  /** a nested rule's column action, null for keep (when) */
  columnAction(rule: ColumnRule): ColumnAction | null;
  /** whether a row's original values match a filter (when, as drop_where) */
  matcher(filter: Filter): (row: RowAccess) => boolean;
}

/** What `check` asks of a kind: the column types its output fits, its length, and whether it stays unique. */
export type TypeClass = 'text' | 'number' | 'time' | 'uuid' | 'inet' | 'mac' | 'json' | 'bool' | 'bytea' | 'array' | 'other';
export interface RestoreEnv {
  /** the longest text of another column of the row (templates), null when unbounded */
  columnLength(name: string): number | null;
  /** whether another column of the row is unique (templates) */
  columnUnique(name: string): boolean;
  maxFakeLength(spec: { method: string; unique: boolean; locale: string }): number | null;
  /** the characters the column itself holds (varchar(n)), where `check` asks whether a value fits it */
  columnLimit?: number | null;
}

export interface RuleKind<R extends ColumnRule = ColumnRule> {
  key: R['kind'];
  /** one line for the rules table in docs/rules.md */
  doc: string;
  /** the scalar spellings that mean this rule with defaults (`keep`, `null`, `hash`) */
  bare?: (string | null)[];
  /** option keys beside the kind's own key (`unique`, `locale`, `nulls`) */
  options?: string[];
  parse(value: unknown, api: ParseApi, opts: Map<string, { value: unknown; at: Where }>): R;
  /** a scalar form (`bare`) with its defaults */
  fromBare?(where: Where): R;
  /** the value function (also for json leaves) */
  compile(rule: R, env: CompileEnv): ValueFn;
  /** a whole-column action where it is faster than the value function on decoded text */
  column?(rule: R, env: CompileEnv): ColumnAction | null;
  fits(rule: R, cls: TypeClass): boolean;
  /** the longest value written: -1 the value's own length or less, null unbounded */
  length(rule: R, env: RestoreEnv): number | null;
  unique(rule: R, env: RestoreEnv): boolean;
  /** what of an original value must not reach the output: all of it, the detector matches, the json keys' values, or nothing */
  leaks: 'whole' | 'matches' | 'json' | 'none';
  /**
   * What the output keeps of a value, for the evidence a run signs: removed (nothing), pseudonymised (a
   * stand-in, the same for the same value), generalised (less precision), scrubbed (matches replaced in
   * text kept), kept; `by key` (json) and `conditional` (when) as their parts, `custom` for js.
   */
  protection: 'removed' | 'pseudonymised' | 'generalised' | 'scrubbed' | 'kept' | 'by key' | 'conditional' | 'custom';
}

export interface JsonTrie {
  leaf?: ValueFn;
  star?: ValueFn;
  children: Map<string, JsonTrie>;
}

/** `fn` of the text whose UTF-8 is `buf[start..end)`, for kinds that read bytes anyway (fakes, hashes): json walks call it without decoding. */
export type BytesFn = (buf: Buffer, start: number, end: number, row: RowAccess) => string;

/**
 * A transform of one scalar text value (json leaves, scrub). `leaves`: a quick test over a value's
 * UTF-8 bytes, true only when `fn` surely returns the value as it is and it holds no control character:
 * its bytes may go to the output as they are, undecoded (scrub: no character any match holds).
 */
export type ValueFn =
  | { kind: 'keep' }
  | { kind: 'null' }
  | { kind: 'const'; value: string | null }
  | { kind: 'text'; fn: (s: string, row: RowAccess) => string; nulls: 'keep' | 'replace'; bytes?: BytesFn; draft?: DraftWriter; leaves?: (buf: Uint8Array, start: number, end: number) => boolean }
  | { kind: 'json'; trie: JsonTrie }
  | { kind: 'fail' };

/**
 * The column action of a rule that reads a value's UTF-8 bytes as a range (fakes, hashes): read where
 * the field lies in the input when it is its own bytes (RowAccess.span), else from bytes(); an empty
 * value stays empty, and NULL gives `ofNull()`. Where the rule writes its text as bytes too (`draft`),
 * a field where it lies gets its output as bytes, in a draft of this column's own (the same rule may
 * serve two columns of a row, whose outputs are all made before any is written).
 */
export function rangeAction(fn: RangeText, ofNull: () => string | null): ColumnAction {
  const action: ColumnAction = (row, col) => {
    const src = row.span?.(col);
    if (src) return row.spanStart === row.spanEnd ? '' : fn(src, row.spanStart!, row.spanEnd!);
    const b = row.bytes(col);
    if (b === null) return ofNull();
    return b.length === 0 ? '' : fn(b, 0, b.length);
  };
  const w = fn.draft;
  if (!w) return action;
  const d = new ByteDraft();
  action.bytes = (row, col) => {
    if (!w.ready()) return undefined;
    const src = row.span?.(col);
    if (!src) return undefined;
    if (row.spanStart === row.spanEnd) return EMPTY;
    w.into(d, src, row.spanStart!, row.spanEnd!);
    return d.view();
  };
  action.bytesAsCopy = () => w.plain;
  return action;
}
const EMPTY = Buffer.alloc(0);

/** faker's wrapper, as the rules reader loaded it (RulesData.fake), or undefined when no rule needed it. */
export function fakerOf(data: RulesData): typeof FakeModule | undefined {
  return data.fake as typeof FakeModule | undefined;
}

export type { RowAccess };
