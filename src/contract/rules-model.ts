/**
 * The rule model: what a rules file says, as plain data. The rules reader (rules/rules-file.ts) builds
 * it, the rule kinds (rules/kinds/) read their part of it, the compiler turns it into a plan, and the
 * relations (find, forget, subsets) read its `relations:` and `subset:`. It imports only the contract's
 * other parts, so every layer above may use it without a circle.
 */
import type { OutsidePolicy } from './outside-policy.js';

export type UnknownPolicy = 'fail' | 'keep' | 'null';
export type NullPolicy = 'keep' | 'replace';

export interface Where {
  file: string;
  line: number;
}

export type ColumnRule = (
  /** `reason`: a column someone reviewed and keeps on purpose (`scan --fail-on-pii -r` does not count it) */
  | { kind: 'keep'; reason?: string }
  | { kind: 'null' }
  | { kind: 'value'; value: string | null }
  | { kind: 'template'; parts: TemplatePart[] }
  | { kind: 'fake'; method: string; unique: boolean; locale: string }
  | { kind: 'hash'; length: number }
  | { kind: 'mask'; keepStart: number; keepEnd: number; char: string }
  | { kind: 'json'; keys: Map<string, ColumnRule> }
  | { kind: 'scrub'; detectors: string[] }
  | { kind: 'generalise'; to: 'year' | 'month' | 'day' | 'hour' | 'postcode_district' | { step: number } | { ipPrefix: number | null; ipv6Prefix: number | null } }
  | { kind: 'pick'; from: string[] }
  | { kind: 'replace'; pattern: string; with?: string; fake?: { method: string; locale: string } }
  | { kind: 'noise'; ratio?: number; days?: number }
  | { kind: 'date_shift'; maxDays: number; by?: string }
  | { kind: 'when'; branches: { if: Filter; then: ColumnRule }[]; otherwise: ColumnRule }
  | { kind: 'js'; key: string; name: string }
) & { nulls: NullPolicy; where: Where };

export type TemplatePart = string | { ref: string };

export type Filter = Map<string, (string | null)[]>;

export type TableRule =
  | { kind: 'keep'; where: Where }
  | { kind: 'drop'; where: Where }
  | {
      kind: 'columns';
      columns: Map<string, ColumnRule>;
      dropWhere?: Filter;
      keepWhere?: Filter;
      /** the order of the table's columns, for INSERTs without a column list in a --data-only dump */
      columnOrder?: string[];
      /** columns that together could single a person out (postcode, birth date, sex): what `risk` groups by */
      quasiIdentifiers?: string[];
      where: Where;
    };

export interface RulesData {
  unknown: UnknownPolicy;
  /** what lies outside the rows: statistics, comments, DDL literals, role names (secrets always go) */
  outside: OutsidePolicy;
  /** table pattern (schema-qualified, may hold * and ?) → rule, in definition order */
  tables: Map<string, TableRule>;
  /** files read, in order (presets and extends included) */
  files: string[];
  /**
   * @faker-js/faker's wrapper (pseudonym/fake.ts), loaded only when a rule uses it (it costs ~0.1 s and
   * ~30 MB). Its type belongs to the rules layer, which reads it through `fakerOf` (rules/kinds/kind.ts).
   */
  fake?: unknown;
  /** js rules' functions, by `file#name` */
  modules?: Map<string, JsFunction>;
  /** pg_dumpall: rules for one database, laid over the top-level ones after `\connect NAME` */
  databases: Map<string, { unknown?: UnknownPolicy; tables: Map<string, TableRule> }>;
  /** `relations:` — references the schema does not declare, and what `forget` does along a reference; by `schema.table.column` */
  relations?: Map<string, RelationRule>;
  /** `subset:` — the rows a subset starts from */
  subset?: SubsetSeed[];
  /** `subset_follow:` — which rows the seeds bring with them through foreign keys */
  subsetFollow?: 'parents' | 'parents_and_children';
}

export type OnForget = 'cascade' | 'set_null' | 'keep';

/**
 * One column that refers to another table's rows: through a FOREIGN KEY the dump declares (the rule then
 * only says what `forget` does along it), or one the schema does not declare (`references:`): an id in a
 * text column, a generic relation (`content_type:` names the column holding the django_content_type id),
 * or an id inside an encoded value (`decode: django_session`).
 */
export interface RelationRule {
  table: string;
  column: string;
  references?: { table: string; column: string };
  onForget?: OnForget;
  contentType?: string;
  decode?: 'django_session';
  where: Where;
}

export interface SubsetSeed {
  table: string;
  filter?: Filter;
  /** a keyed, repeatable sample: percent of the table's rows (those the filter matches, with one) */
  percent?: number;
  where: Where;
}

/** A js rule's function, loaded with the rules (kinds/js.ts). */
export type JsFunction = (value: string | null, row: { get(column: string): string | null }, ctx: unknown) => unknown;
