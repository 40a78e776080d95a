/** The words the engine dispatches on: a statement's first keyword, and the database a `\connect` names. */

/** The database a psql `\connect` (or `\c`) line names, or null for any other meta-command. */
export function connectTarget(line: string): string | null {
  const m = /^\\(?:connect|c)\s+(.*?)\s*$/s.exec(line);
  if (!m) return null;
  let args = m[1]!;
  // pg_dumpall quotes awkward names as a conninfo: \connect -reuse-previous=on "dbname='d b2'"
  args = args.replace(/^-reuse-previous=\S+\s+/, '');
  const quoted = /^"((?:[^"]|"")*)"/.exec(args);
  const word = quoted ? quoted[1]!.replace(/""/g, '"') : args.split(/\s+/)[0]!;
  const conninfo = /(?:^|\s)dbname\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))/.exec(word);
  if (conninfo) return conninfo[1] !== undefined ? conninfo[1].replace(/\\(.)/g, '$1') : conninfo[2]!;
  return word;
}

/** The statements we act on, by their first word. */
const KEYWORDS = ['INSERT', 'COPY', 'SET', 'CREATE', 'ALTER', 'SELECT'].map((k) => ({ word: k, bytes: Buffer.from(k, 'latin1') }));

/** The first word of a statement if it is one we act on (any case), else ''. Compared on bytes: a string per statement showed in the profile of INSERT dumps. */
export function keyword(buf: Buffer, at: number, end: number): string {
  for (const k of KEYWORDS) {
    const n = k.bytes.length;
    if (at + n > end) continue;
    let j = 0;
    while (j < n && (buf[at + j]! | 0x20) === (k.bytes[j]! | 0x20)) j++;
    if (j < n) continue;
    // a whole word: INSERTS or COPY_X are not ours
    const next = at + n < end ? buf[at + n]! : 0x20;
    if (!((next | 0x20) >= 0x61 && (next | 0x20) <= 0x7a) && !(next >= 0x30 && next <= 0x39) && next !== 0x5f) return k.word;
  }
  return '';
}
