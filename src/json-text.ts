/**
 * A small JSON reader/writer for `json` rules. Unlike JSON.parse it keeps each number's exact text
 * (12345678901234567890 stays as written) and the order and repetition of keys (json, not jsonb, keeps
 * both), so a kept value survives the rewrite unchanged.
 */
export type JsonValue =
  | { t: 'obj'; entries: [string, JsonValue][] }
  | { t: 'arr'; items: JsonValue[] }
  | { t: 'str'; v: string }
  | { t: 'num'; raw: string }
  | { t: 'bool'; v: boolean }
  | { t: 'null' };

export class JsonSyntaxError extends Error {}

export function parseJson(text: string): JsonValue {
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
  };
  const fail = (): never => {
    throw new JsonSyntaxError(`invalid JSON at character ${i + 1}`);
  };
  const str = (): string => {
    // fast path: no escapes
    const start = ++i;
    for (;;) {
      const q = text.indexOf('"', i);
      if (q === -1) fail();
      const bs = text.indexOf('\\', i);
      if (bs === -1 || bs > q) {
        i = q + 1;
        return start === q ? '' : text.slice(start, q);
      }
      // slow path: let JSON.parse decode the escapes of this one string
      let j = start;
      for (;;) {
        const c = text[j];
        if (c === undefined) fail();
        if (c === '\\') { j += 2; continue; }
        if (c === '"') break;
        j++;
      }
      i = j + 1;
      try {
        return JSON.parse(text.slice(start - 1, j + 1)) as string;
      } catch {
        return fail();
      }
    }
  };
  const value = (depth: number): JsonValue => {
    if (depth > 512) fail();
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const entries: [string, JsonValue][] = [];
      ws();
      if (text[i] === '}') { i++; return { t: 'obj', entries }; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        const k = str();
        ws();
        if (text[i++] !== ':') fail();
        entries.push([k, value(depth + 1)]);
        ws();
        const d = text[i++];
        if (d === '}') return { t: 'obj', entries };
        if (d !== ',') fail();
      }
    }
    if (c === '[') {
      i++;
      const items: JsonValue[] = [];
      ws();
      if (text[i] === ']') { i++; return { t: 'arr', items }; }
      for (;;) {
        items.push(value(depth + 1));
        ws();
        const d = text[i++];
        if (d === ']') return { t: 'arr', items };
        if (d !== ',') fail();
      }
    }
    if (c === '"') return { t: 'str', v: str() };
    if (text.startsWith('true', i)) { i += 4; return { t: 'bool', v: true }; }
    if (text.startsWith('false', i)) { i += 5; return { t: 'bool', v: false }; }
    if (text.startsWith('null', i)) { i += 4; return { t: 'null' }; }
    const m = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    m.lastIndex = i;
    const num = m.exec(text);
    if (!num) return fail();
    i += num[0].length;
    return { t: 'num', raw: num[0] };
  };
  const v = value(0);
  ws();
  if (i !== n) fail();
  return v;
}

/** Compact JSON text (PostgreSQL re-formats jsonb on input anyway). */
export function writeJson(v: JsonValue): string {
  switch (v.t) {
    case 'obj': return `{${v.entries.map(([k, x]) => `${JSON.stringify(k)}:${writeJson(x)}`).join(',')}}`;
    case 'arr': return `[${v.items.map(writeJson).join(',')}]`;
    case 'str': return JSON.stringify(v.v);
    case 'num': return v.raw;
    case 'bool': return v.v ? 'true' : 'false';
    case 'null': return 'null';
  }
}
