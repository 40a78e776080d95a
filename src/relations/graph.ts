/**
 * The references between a dump's tables: its own FOREIGN KEY constraints, and the ones the rules
 * declare (`relations:`) for keys the schema does not — an id in a text column, a Django generic
 * relation (content type + object id), a user id inside a session's payload. What `forget` does along
 * each one is decided here once: the rules' `on_forget`, else the constraint's ON DELETE.
 */
import { AnonymiseError } from '../errors.js';
import type { SchemaModel } from '../dump/schema-model.js';
import type { OnForget, RelationRule } from '../contract/rules-model.js';

export type ForgetAction = OnForget | 'set_default' | 'undecided';

export interface Relation {
  /** the constraint's name, or `relations: table.column` for one the rules declare */
  name: string;
  table: string;
  columns: string[];
  /** the referenced table; null for a generic relation (found per row from its content type) */
  references: string | null;
  refColumns: string[];
  /** ON DELETE as the dump says (NO ACTION for a relation the rules declare) */
  onDelete: string;
  /** what forget does to a row that refers to a forgotten one */
  action: ForgetAction;
  /** nothing decides (NO ACTION / RESTRICT, no on_forget): `action` is cascade only because it was asked (forget --cascade, or find showing what refers) */
  undecided?: boolean;
  /** generic relation: the column holding the django_content_type id */
  contentType?: string;
  decode?: 'django_session';
}

/** Every relation of the schema and the rules. `cascade`: undecided NO ACTION / RESTRICT ones cascade (forget --cascade). */
export function relationsOf(schema: SchemaModel, rules: ReadonlyMap<string, RelationRule> | undefined, cascade = false): Relation[] {
  const out: Relation[] = [];
  const declared = new Set<string>();
  // a rule on a partitioned (or parent) table speaks for its partitions' own constraints too
  const ruleFor = (table: string, column: string): { key: string; rule: RelationRule } | undefined => {
    for (let t: string | undefined = table, depth = 0; t && depth < 32; t = schema.parentOf(t), depth++) {
      const rule = rules?.get(`${t}.${column}`);
      if (rule) return { key: `${t}.${column}`, rule };
    }
    return undefined;
  };
  for (const fk of schema.foreignKeys) {
    const found = fk.columns.length === 1 ? ruleFor(fk.table, fk.columns[0]!) : undefined;
    const rule = found?.rule;
    if (found) declared.add(found.key);
    const onDelete = fk.onDelete.toUpperCase();
    let action: ForgetAction = rule?.onForget ?? fromOnDelete(onDelete);
    const undecided = action === 'undecided';
    if (undecided && cascade) action = 'cascade';
    out.push({ name: fk.name, table: fk.table, columns: fk.columns, references: fk.references, refColumns: fk.refColumns, onDelete, action, ...(undecided ? { undecided } : {}) });
  }
  for (const [key, rule] of rules ?? []) {
    if (declared.has(key)) continue;
    if (!schema.tables.has(rule.table)) continue; // a preset's relation for an app this dump lacks
    if (!rule.references && !rule.contentType) continue; // only on_forget, for a constraint this dump lacks
    if (rule.references && !schema.tables.has(rule.references.table)) continue;
    const cols = schema.columnsOf(rule.table);
    if (cols && !cols.includes(rule.column))
      throw new AnonymiseError('RULES', `relations: table ${rule.table} has no column ${rule.column}`, rule.where);
    if (rule.contentType && cols && !cols.includes(rule.contentType))
      throw new AnonymiseError('RULES', `relations: table ${rule.table} has no column ${rule.contentType} (content_type)`, rule.where);
    let action: ForgetAction = rule.onForget ?? 'undecided';
    const undecided = action === 'undecided';
    if (undecided && cascade) action = 'cascade';
    out.push({
      name: `relations: ${key}`,
      table: rule.table,
      columns: [rule.column],
      references: rule.references?.table ?? null,
      refColumns: rule.references ? [rule.references.column] : [],
      onDelete: 'NO ACTION',
      action,
      ...(undecided ? { undecided } : {}),
      contentType: rule.contentType,
      decode: rule.decode,
    });
  }
  return out;
}

function fromOnDelete(onDelete: string): ForgetAction {
  if (onDelete === 'CASCADE') return 'cascade';
  if (onDelete === 'SET NULL') return 'set_null';
  if (onDelete === 'SET DEFAULT') return 'set_default';
  return 'undecided';
}

/** Django's default table name for a content type: `app_label` + `_` + `model`. */
export function contentTypeTable(appLabel: string, model: string): string {
  return `public.${appLabel}_${model}`;
}

/**
 * The user id in a Django session's `session_data`: Django ≥ 3.1 signs `base64(json)` (`.` first when
 * zlib-compressed) + `:timestamp:signature`; older versions wrote `base64(hash:json)`. Null when there is
 * none or the value is not a session.
 */
export function djangoSessionUserId(value: string, inflate: (b: Buffer) => Buffer): string | null {
  let payload = value;
  const colon = payload.indexOf(':');
  if (colon !== -1) payload = payload.slice(0, colon);
  let compressed = false;
  if (payload.startsWith('.')) {
    compressed = true;
    payload = payload.slice(1);
  }
  let bytes: Buffer;
  try {
    bytes = Buffer.from(payload, 'base64');
    if (compressed) bytes = inflate(bytes);
  } catch {
    return null;
  }
  const text = bytes.toString('utf8');
  // the key read where it is (a JSON.parse of every session cost more than the rest of its row)
  const m = AUTH_USER_ID.exec(text);
  if (!m) return null;
  if (m[2] !== undefined) return m[2];
  try {
    return JSON.parse(`"${m[1]}"`) as string;
  } catch {
    return null;
  }
}

const AUTH_USER_ID = /"_auth_user_id"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d+))/;
