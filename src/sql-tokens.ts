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
        if (q === -1) throw new Error('unterminated quoted identifier');
        v += sql.slice(j, q);
        if (sql[q + 1] === '"') { v += '"'; j = q + 2; continue; }
        j = q + 1;
        break;
      }
      out.push({ t: 'id', v, quoted: true, at: i, end: j });
      i = j;
      continue;
    }
    if (c === "'" || ((c === 'E' || c === 'e') && sql[i + 1] === "'")) {
      const escapes = c !== "'";
      let j = escapes ? i + 2 : i + 1;
      for (;;) {
        if (j >= n) throw new Error('unterminated string');
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
        if (close === -1) throw new Error('unterminated dollar quote');
        out.push({ t: 'str', at: i, end: close + m[0].length });
        i = close + m[0].length;
        continue;
      }
    }
    if (IDENT_START.test(c)) {
      let j = i + 1;
      while (j < n && IDENT_PART.test(sql[j]!)) j++;
      out.push({ t: 'id', v: sql.slice(i, j).toLowerCase(), quoted: false, at: i, end: j });
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
