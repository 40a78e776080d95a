/**
 * Random dumps built from grammar pieces, random rules for them, and byte mutations. Every value a
 * rule rewrites carries a marker (`SECRET…`), so a leak is a marker found in the output.
 */
import { encodeField } from '../../src/dump/copy-codec.js';
import { literalOf } from '../../src/dump/sql-literal.js';

export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  next(): number {
    // xorshift32
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

const AWKWARD = ['\t', '\n', '\r', '\\', '\\N', '\\.', "'", "''", '"', ';', '$$', '$x$', '--', '/*', '*/', '(', ')', ',', 'é', '漢', '🎉', 'COPY public.t0 (c0) FROM stdin;', '\n\\.\n', "INSERT INTO public.t0 VALUES ('x');", 'E\'', '\\x41', ' '];

function text(rng: Rng, max = 12): string {
  let s = '';
  const n = rng.int(max);
  for (let i = 0; i < n; i++) s += rng.chance(0.4) ? rng.pick(AWKWARD) : String.fromCharCode(97 + rng.int(26));
  return s;
}

type ColRule = 'keep' | 'fake' | 'hash' | 'mask' | 'null' | 'value' | 'template' | 'scrub' | 'json';
export const COL_RULES: ColRule[] = ['keep', 'fake', 'hash', 'mask', 'null', 'value', 'template', 'scrub', 'json'];

export interface FuzzTable {
  name: string; // as written in SQL
  key: string; // as named in rules
  columns: { sql: string; name: string; rule: ColRule }[];
  mode: 'rewrite' | 'keep' | 'drop';
  dropWhere: boolean;
}

/** A fixed schema: table/column names include quoting trouble. */
export function makeSchema(rng: Rng): FuzzTable[] {
  const names: [string, string][] = [
    ['public.t0', 'public.t0'],
    ['public."Mixed Case"', 'public.Mixed Case'],
    ['"s,1"."t ""q"""', 's,1.t "q"'],
    ['public.t3', 'public.t3'],
  ];
  return names.map(([sql, key], ti) => {
    const n = 1 + rng.int(6);
    const columns = Array.from({ length: n }, (_, i) => {
      const quoted = rng.chance(0.3);
      const name = quoted ? `c ${i}, "x"` : `c${i}`;
      return { sql: quoted ? `"${name.replace(/"/g, '""')}"` : name, name, rule: i === 0 ? ('keep' as ColRule) : rng.pick(COL_RULES) };
    });
    return { name: sql, key, columns, mode: ti === 1 ? 'keep' : ti === 3 ? 'drop' : 'rewrite', dropWhere: rng.chance(0.5) };
  });
}

const yamlKey = (s: string) => JSON.stringify(s);

export function rulesYaml(tables: FuzzTable[]): string {
  let y = 'version: 1\nunknown: fail\ntables:\n';
  for (const t of tables) {
    if (t.mode !== 'rewrite') {
      y += `  ${yamlKey(t.key)}: ${t.mode}\n`;
      continue;
    }
    y += `  ${yamlKey(t.key)}:\n`;
    if (t.dropWhere) y += `    drop_where: { ${yamlKey(t.columns[0]!.name)}: ["1", null] }\n`;
    y += '    columns:\n';
    for (const c of t.columns) {
      const r = {
        keep: 'keep',
        fake: '{ fake: internet.email, unique: true }',
        hash: '{ hash: { length: 12 } }',
        mask: '{ mask: {} }',
        null: 'null',
        value: '{ value: "v" }',
        template: `{ template: ${JSON.stringify(`t-{${t.columns[0]!.name}}`)} }`,
        scrub: '{ scrub: [email] }',
        json: '{ json: { k: { fake: person.firstName }, "*": keep } }',
      }[c.rule];
      y += `      ${yamlKey(c.name)}: ${r}\n`;
    }
  }
  return y;
}

/** A value for a column: markers in every rewritten column, harmless text in kept ones. */
function value(rng: Rng, rule: ColRule, id: number, marks: string[]): string | null {
  if (rng.chance(0.1)) return null;
  if (rule === 'keep') return rng.chance(0.5) ? String(id) : text(rng);
  const mark = `SECRET${marks.length}Z${rng.int(1e9)}`;
  marks.push(mark);
  if (rule === 'scrub') return `${text(rng)} ${mark.toLowerCase()}@gmail.com ${text(rng).replace(/@/g, '')}`;
  if (rule === 'json') return JSON.stringify({ k: mark + text(rng), other: rng.int(100) });
  return mark + text(rng);
}

export interface FuzzCase {
  dump: Buffer;
  marks: string[];
}

/** A dump of the schema: COPY or INSERT data, with comments, SETs, meta-commands and functions in between. */
export function makeDump(rng: Rng, tables: FuzzTable[]): FuzzCase {
  const marks: string[] = [];
  const parts: string[] = ['--\n-- PostgreSQL database dump\n--\n\n\\restrict k3y\n\n', "SET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n"];
  const inserts = rng.chance(0.4);
  for (const t of tables) {
    parts.push(`\n--\n-- Name: ${t.key.replace(/\n/g, ' ')}; Type: TABLE\n--\n\nCREATE TABLE ${t.name} (\n${t.columns.map((c) => `    ${c.sql} text`).join(',\n')}\n);\n`);
  }
  // the tag cannot be spelt by text(): its pieces hold no '_' or digit, so the body never closes early
  parts.push(`\nCREATE FUNCTION public.f() RETURNS text LANGUAGE sql AS $q_1$ SELECT 'COPY public.t0 (c0) FROM stdin;\n${text(rng)}' $q_1$;\n`);
  for (const t of tables) {
    const rows = rng.int(6);
    const cols = t.columns.map((c) => c.sql).join(', ');
    if (!inserts) {
      parts.push(`\nCOPY ${t.name} (${cols}) FROM stdin;\n`);
      for (let r = 0; r < rows; r++) parts.push(t.columns.map((c) => encodeField(value(rng, t.mode === 'rewrite' ? c.rule : 'keep', r, marks))).join('\t') + '\n');
      parts.push('\\.\n');
    } else {
      for (let r = 0; r < rows; r++) {
        const vals = t.columns.map((c) => literalOf(value(rng, t.mode === 'rewrite' ? c.rule : 'keep', r, marks))).join(', ');
        parts.push(rng.chance(0.5) ? `INSERT INTO ${t.name} (${cols}) VALUES (${vals});\n` : `INSERT INTO ${t.name} VALUES (${vals});\n`);
      }
    }
    if (rng.chance(0.3)) parts.push(`-- a comment with ${text(rng).replace(/\n/g, ' ')}\n`);
  }
  parts.push('\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict k3y\n\n');
  return { dump: Buffer.from(parts.join('')), marks };
}

const SPECIAL = [0x09, 0x0a, 0x0d, 0x5c, 0x27, 0x22, 0x3b, 0x24, 0x2e, 0x4e, 0x28, 0x29, 0x2c, 0x00, 0xff, 0xc3];

/** A few random byte mutations: flips, special bytes, deletions, duplications. */
export function mutate(rng: Rng, input: Buffer): Buffer {
  let b = Buffer.from(input);
  const n = 1 + rng.int(4);
  for (let k = 0; k < n && b.length > 0; k++) {
    const at = rng.int(b.length);
    switch (rng.int(5)) {
      case 0: b[at] = rng.int(256); break;
      case 1: b[at] = rng.pick(SPECIAL); break;
      case 2: b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(8)))]); break;
      case 3: { const len = rng.int(16); b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)]); break; }
      default: b = Buffer.concat([b.subarray(0, at), Buffer.from([rng.pick(SPECIAL)]), b.subarray(at)]);
    }
  }
  return b;
}

/** Cuts a buffer into random chunks. */
export function chunks(rng: Rng, b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < b.length) {
    const n = 1 + rng.int(rng.chance(0.2) ? 4 : 300);
    out.push(b.subarray(i, i + n));
    i += n;
  }
  return out;
}
