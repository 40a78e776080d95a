/**
 * Reading pg_dump's INSERT statements (`--inserts`, `--column-inserts`, `--rows-per-insert`):
 *
 *   INSERT INTO name [(col, …)] [OVERRIDING SYSTEM VALUE] VALUES (v, …)[, (v, …)…];
 *
 * The header is decoded once per distinct text (every statement for a table repeats it); the values
 * are found on bytes, and only the ones a rule reads are ever decoded.
 */
import { BACKSLASH, COMMA, DQUOTE, LPAREN, RPAREN, SEMI, SQUOTE } from '../text/bytes.js';
import { AnonymiseError } from '../errors.js';
import { LitKind } from './sql-literal.js';
import { isOp, isWord, tokenize } from './sql-tokens.js';
import { readName, type QualifiedName } from './schema.js';


const SPACE = new Uint8Array(256);
for (const b of [0x20, 0x09, 0x0a, 0x0d, 0x0c, 0x0b]) SPACE[b] = 1;
/** Bytes that end a bare value such as a number. */
const BARE_END = new Uint8Array(256);
for (const b of [0x20, 0x09, 0x0a, 0x0d, 0x0c, 0x0b, COMMA, RPAREN]) BARE_END[b] = 1;

export interface InsertHeader {
  table: QualifiedName;
  columns: string[] | null;
  /** `INSERT INTO t DEFAULT VALUES` */
  defaultValues: boolean;
}

function bad(message: string): AnonymiseError {
  return new AnonymiseError('BAD_INPUT', message);
}


/** Parses the decoded header text `INSERT INTO … VALUES`. */
export function parseInsertHeader(text: string, schema = 'public'): InsertHeader {
  const toks = tokenize(text);
  if (!isWord(toks[0], 'insert') || !isWord(toks[1], 'into')) throw bad('cannot read this INSERT statement');
  const nm = readName(toks, 2, schema);
  if (!nm) throw bad('cannot read the table name of this INSERT');
  let i = nm.next;
  let columns: string[] | null = null;
  if (isOp(toks[i], '(')) {
    columns = [];
    i++;
    for (;;) {
      const t = toks[i];
      if (!t || t.t !== 'id') throw bad('cannot read the column list of this INSERT');
      columns.push(t.v);
      i++;
      if (isOp(toks[i], ',')) { i++; continue; }
      if (isOp(toks[i], ')')) { i++; break; }
      throw bad('cannot read the column list of this INSERT');
    }
  }
  if (isWord(toks[i], 'overriding')) i += 3; // OVERRIDING {SYSTEM|USER} VALUE
  // a row of a table whose every column has its default (pg_dump writes it for a table without columns too)
  if (isWord(toks[i], 'default') && isWord(toks[i + 1], 'values') && i + 1 === toks.length - 1) return { table: nm.q, columns, defaultValues: true };
  if (!isWord(toks[i], 'values') || i !== toks.length - 1) throw bad('this INSERT is not of the form INSERT INTO … VALUES (…)');
  return { table: nm.q, columns, defaultValues: false };
}

/** Offset just after the VALUES keyword of an INSERT starting at `at`, or -1. Quotes are respected. */
export function findValuesKeyword(buf: Buffer, at: number, end: number): number {
  let i = at;
  while (i < end) {
    const b = buf[i]!;
    if (b === DQUOTE) {
      // a quoted identifier; "" inside
      let j = i + 1;
      for (;;) {
        const q = buf.indexOf(DQUOTE, j);
        if (q === -1 || q >= end) return -1;
        if (buf[q + 1] === DQUOTE) { j = q + 2; continue; }
        i = q + 1;
        break;
      }
      continue;
    }
    if (b === SQUOTE) return -1;
    if ((b | 0x20) === 0x76 && (i === at || BARE_END[buf[i - 1]!] === 1 || buf[i - 1] === RPAREN) &&
        buf.toString('latin1', i, Math.min(end, i + 6)).toUpperCase() === 'VALUES' && (i + 6 >= end || BARE_END[buf[i + 6]!] === 1 || buf[i + 6] === LPAREN || buf[i + 6] === SEMI)) {
      return i + 6;
    }
    i++;
  }
  return -1;
}

/**
 * Where the VALUES keyword ends when the statement at `buf[code..end)` begins with `head`, the bytes
 * from INSERT to VALUES of an earlier statement, else -1. findValuesKeyword would find the same place
 * (what it reads before the keyword is the same, and the byte after it is checked here), without the
 * scan: every statement of a table repeats its header.
 */
export function valuesAfterHeader(buf: Buffer, code: number, end: number, head: Buffer): number {
  const e = code + head.length;
  if (e > end || buf.compare(head, 0, head.length, code, e) !== 0) return -1;
  if (e === end) return e;
  const b = buf[e]!;
  return BARE_END[b] === 1 || b === LPAREN || b === SEMI ? e : -1;
}

/** The values of one statement, as byte spans; arrays are reused from statement to statement. */
export class InsertValues {
  starts = new Int32Array(64);
  ends = new Int32Array(64);
  kinds = new Uint8Array(64);
  count = 0;
  /** per tuple: offset of its `(`, offset after its `)`, index of its first value */
  tupleOpen = new Int32Array(16);
  tupleClose = new Int32Array(16);
  tupleFirst = new Int32Array(17);
  tuples = 0;

  private push(start: number, end: number, kind: LitKind): void {
    if (this.count === this.starts.length) {
      const n = this.count * 2;
      const s = new Int32Array(n); s.set(this.starts); this.starts = s;
      const e = new Int32Array(n); e.set(this.ends); this.ends = e;
      const k = new Uint8Array(n); k.set(this.kinds); this.kinds = k;
    }
    this.starts[this.count] = start;
    this.ends[this.count] = end;
    this.kinds[this.count++] = kind;
  }

  private pushTuple(open: number): void {
    if (this.tuples + 1 >= this.tupleOpen.length) {
      const n = this.tupleOpen.length * 2;
      const o = new Int32Array(n); o.set(this.tupleOpen); this.tupleOpen = o;
      const c = new Int32Array(n); c.set(this.tupleClose); this.tupleClose = c;
      const f = new Int32Array(n + 1); f.set(this.tupleFirst); this.tupleFirst = f;
    }
    this.tupleOpen[this.tuples] = open;
    this.tupleFirst[this.tuples] = this.count;
  }

  /** Reads `( … ), ( … ) ;` from `at` (just after VALUES) to `end`. */
  parse(buf: Buffer, at: number, end: number, standardConformingStrings: boolean): void {
    this.count = 0;
    this.tuples = 0;
    let i = at;
    for (;;) {
      while (i < end && SPACE[buf[i]!] === 1) i++;
      // every read stays below `end`: past it lies the next statement (or nothing yet)
      if (i >= end || buf[i] !== LPAREN) throw bad('cannot read the VALUES of this INSERT');
      this.pushTuple(i);
      i++;
      for (;;) {
        while (i < end && SPACE[buf[i]!] === 1) i++;
        const b = i < end ? buf[i] : -1;
        const start = i;
        let kind: LitKind;
        if (b === SQUOTE) {
          kind = standardConformingStrings ? LitKind.String : LitKind.EString;
          i = closeQuote(buf, i + 1, end, kind === LitKind.EString);
        } else if ((b === 0x45 || b === 0x65) && i + 1 < end && buf[i + 1] === SQUOTE) {
          kind = LitKind.EString; // the span keeps the E: a rewritten value replaces it too
          i = closeQuote(buf, i + 2, end, true);
        } else if ((b === 0x42 || b === 0x62 || b === 0x58 || b === 0x78) && i + 1 < end && buf[i + 1] === SQUOTE) {
          kind = LitKind.BitString;
          i = closeQuote(buf, i + 2, end, false);
        } else {
          while (i < end && BARE_END[buf[i]!] === 0) {
            const c = buf[i]!;
            if (c === SQUOTE || c === DQUOTE || c === LPAREN) throw new AnonymiseError('UNSUPPORTED', 'an INSERT value is an expression, not a constant');
            i++;
          }
          if (i === start) throw bad('cannot read the VALUES of this INSERT');
          kind = i - start === 4 && buf.toString('latin1', start, i).toUpperCase() === 'NULL' ? LitKind.Null : LitKind.Bare;
        }
        this.push(start, i, kind);
        while (i < end && SPACE[buf[i]!] === 1) i++;
        const sep = i < end ? buf[i] : -1;
        i++;
        if (sep === COMMA) continue;
        if (sep === RPAREN) break;
        if (sep === 0x3a) throw new AnonymiseError('UNSUPPORTED', 'an INSERT value carries a cast, which cannot be rewritten');
        throw bad('cannot read the VALUES of this INSERT');
      }
      this.tupleClose[this.tuples++] = i;
      this.tupleFirst[this.tuples] = this.count;
      while (i < end && SPACE[buf[i]!] === 1) i++;
      const next = i < end ? buf[i] : -1;
      if (next === COMMA) { i++; continue; }
      if (next === SEMI) return;
      // pg_dump --on-conflict-do-nothing
      if ((next === 0x4f || next === 0x6f) && ON_CONFLICT.test(buf.toString('latin1', i, Math.min(end, i + 64)))) return;
      throw bad('cannot read the VALUES of this INSERT');
    }
  }
}

const ON_CONFLICT = /^ON\s+CONFLICT\s+DO\s+NOTHING\s*;\s*$/i;

/** Offset just after the quote that closes a string whose body starts at `i`. */
function closeQuote(buf: Buffer, i: number, end: number, backslashEscapes: boolean): number {
  for (;;) {
    const q = buf.indexOf(SQUOTE, i);
    if (q === -1 || q >= end) throw bad('unterminated string constant in an INSERT');
    if (backslashEscapes) {
      // a quote preceded by an odd number of backslashes is escaped
      let k = q - 1;
      let n = 0;
      while (k >= i && buf[k] === BACKSLASH) { n++; k--; }
      if (n % 2 === 1) { i = q + 1; continue; }
    }
    if (q + 1 < end && buf[q + 1] === SQUOTE) { i = q + 2; continue; }
    return q + 1;
  }
}
