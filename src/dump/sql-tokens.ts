/**
 * A token list for one short, complete SQL statement already decoded to text (DDL and COPY headers
 * are small). Identifiers keep their real spelling: quoted ones exactly, unquoted ones folded to
 * lower case as PostgreSQL does.
 */
/** `at` and `end`: the token's span in the statement text. */
export type Token =
  | { t: 'id'; v: string; quoted: boolean; at: number; end: number }
  | { t: 'str'; at: number; end: number }
  | { t: 'num'; at: number; end: number }
  | { t: 'op'; v: string; at: number; end: number };

import { AnonymiseError } from '../errors.js';

/**
 * PostgreSQL identifiers are at most 63 bytes (NAMEDATALEN - 1) and pg_dump never writes control
 * characters in one. A longer one means a damaged dump, where a broken quote may have swallowed data:
 * refuse it without repeating it, since names are the one part of the dump that messages show.
 */
function checkIdentifier(name: string): string {
  if (Buffer.byteLength(name, 'utf8') > 63 || /[\x00-\x1f\x7f]/.test(name))
    throw new AnonymiseError('BAD_INPUT', 'an identifier is longer than 63 bytes or holds control characters: the dump is damaged');
  return name;
}

const IDENT_START = /[A-Za-z_\u0080-\uffff]/;
const IDENT_PART = /[A-Za-z0-9_$\u0080-\uffff]/;

export function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') { i++; continue; }
    if (c === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl === -1 ? n : nl + 1;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql.startsWith('*/', i)) { depth--; i += 2; }
        else if (sql.startsWith('/*', i)) { depth++; i += 2; }
        else i++;
      }
      continue;
    }
    if (c === '"') {
      let v = '';
      let j = i + 1;
      for (;;) {
        const q = sql.indexOf('"', j);
        if (q === -1) throw new AnonymiseError('BAD_INPUT', 'unterminated quoted identifier');
        v += sql.slice(j, q);
        if (sql[q + 1] === '"') { v += '"'; j = q + 2; continue; }
        j = q + 1;
        break;
      }
      out.push({ t: 'id', v: checkIdentifier(v), quoted: true, at: i, end: j });
      i = j;
      continue;
    }
    if (c === "'" || ((c === 'E' || c === 'e') && sql[i + 1] === "'")) {
      const escapes = c !== "'";
      let j = escapes ? i + 2 : i + 1;
      for (;;) {
        if (j >= n) throw new AnonymiseError('BAD_INPUT', 'unterminated string constant');
        const d = sql[j]!;
        if (escapes && d === '\\') { j += 2; continue; }
        if (d === "'") {
          if (sql[j + 1] === "'") { j += 2; continue; }
          j++;
          break;
        }
        j++;
      }
      out.push({ t: 'str', at: i, end: j });
      i = j;
      continue;
    }
    if (c === '$') {
      const m = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i, i + 64));
      if (m) {
        const close = sql.indexOf(m[0], i + m[0].length);
        if (close === -1) throw new AnonymiseError('BAD_INPUT', 'unterminated dollar-quoted string');
        out.push({ t: 'str', at: i, end: close + m[0].length });
        i = close + m[0].length;
        continue;
      }
    }
    if (IDENT_START.test(c)) {
      let j = i + 1;
      while (j < n && IDENT_PART.test(sql[j]!)) j++;
      out.push({ t: 'id', v: checkIdentifier(sql.slice(i, j).toLowerCase()), quoted: false, at: i, end: j });
      i = j;
      continue;
    }
    if (c >= '0' && c <= '9') {
      let j = i + 1;
      while (j < n && /[0-9.eE_]/.test(sql[j]!)) j++;
      out.push({ t: 'num', at: i, end: j });
      i = j;
      continue;
    }
    out.push({ t: 'op', v: c, at: i, end: i + 1 });
    i++;
  }
  return out;
}

export function isWord(tok: Token | undefined, word: string): boolean {
  return tok !== undefined && tok.t === 'id' && !tok.quoted && tok.v === word;
}

export function isOp(tok: Token | undefined, op: string): boolean {
  return tok !== undefined && tok.t === 'op' && tok.v === op;
}

/**
 * The spans of the comments in one statement's text (a double dash to the end of the line, or a nested block comment),
 * outside strings, quoted identifiers and dollar quotes: free text, which the policy outside the rows
 * examines as it does COMMENT ON.
 */
export function commentSpans(sql: string): { at: number; end: number }[] {
  const spans: { at: number; end: number }[] = [];
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql[i]!;
    if (c === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      const end = nl === -1 ? n : nl;
      spans.push({ at: i, end });
      i = end;
    } else if (c === '/' && sql[i + 1] === '*') {
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        if (sql.startsWith('*/', j)) { depth--; j += 2; }
        else if (sql.startsWith('/*', j)) { depth++; j += 2; }
        else j++;
      }
      spans.push({ at: i, end: j });
      i = j;
    } else if (c === "'" || c === '"') {
      // a string or quoted identifier ('' and "" inside); E'' backslash escapes too
      const escapes = c === "'" && (sql[i - 1] === 'E' || sql[i - 1] === 'e');
      let j = i + 1;
      while (j < n) {
        if (escapes && sql[j] === '\\') { j += 2; continue; }
        if (sql[j] === c) {
          if (sql[j + 1] === c) { j += 2; continue; }
          break;
        }
        j++;
      }
      i = j + 1;
    } else if (c === '$') {
      const m = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i, i + 64));
      if (m && !(i > 0 && /[A-Za-z0-9_]/.test(sql[i - 1]!))) {
        const close = sql.indexOf(m[0], i + m[0].length);
        i = close === -1 ? n : close + m[0].length;
      } else i++;
    } else i++;
  }
  return spans;
}
