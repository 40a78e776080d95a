/**
 * Values written as bytes (fakes of distinct values, hashes, templates of kept fields: ColumnAction.bytes)
 * against the same rules over text: a dump in LATIN1 is read field by field as text (RowAccess.span is
 * for UTF-8 only), so for ASCII rows its output must be the UTF-8 dump's, byte for byte.
 */
import { describe, expect, it } from 'vitest';
import { compileRules, readRules, rewriteBuffer } from '../src/engine/run.js';

const head = (encoding: string) => `--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = '${encoding}';\nSET standard_conforming_strings = on;\n\n`;
const TABLE = 'CREATE TABLE public.t (\n    id integer NOT NULL,\n    email text,\n    name text,\n    token text,\n    label text,\n    label2 text,\n    phone text\n);\n\n';
const RULES = `version: 1
tables:
  public.t:
    columns:
      id: keep
      email: { fake: internet.email, unique: true }
      name: keep
      token: { hash: { length: 40 } }
      label: { template: "u-{id}-{name}" }
      label2: { template: "{email}/{name}" }
      phone: { fake: phone.number, locale: en_GB }
`;

/** Rows whose fields hold what the byte paths must leave to the text: escapes, NULL, empty text, a raw control character. */
function row(i: number): string {
  const kinds = [
    () => `${i}\tuser${i}@mail.org\tName ${i}\ttok${i}\tx\tx\t07${i}`,
    () => `${i}\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N`,
    () => `${i}\ta\\tb${i}@mail.org\tC\\\\d${i}\tt\\nk${i}\tx\tx\t0\\t1`,
    () => `${i}\t\t\t\t\t\t`,
    () => `${i}\tz\x01z${i}@mail.org\tctl\x01\x0b${i}\tk\x08${i}\tx\tx\t\x0c`,
    () => `${i}\tlong.address.of.someone.number.${i}@a-very-long-domain.example\tN\x7f${i}\t${'t'.repeat(100)}${i}\tx\tx\t+44 20 7946 ${i}`,
  ];
  // mostly plain rows, so that the fakes' table of repeats is passed by (memo.ts) and the bytes path taken
  return (i % 10 < 5 ? kinds[0]! : kinds[i % 6]!)();
}

async function run(encoding: string, rows: number, chunk: number): Promise<Buffer> {
  const body = Array.from({ length: rows }, (_, i) => row(i + 1)).join('\n');
  const dump = Buffer.from(`${head(encoding)}${TABLE}COPY public.t (id, email, name, token, label, label2, phone) FROM stdin;\n${body}\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n`, 'latin1');
  const rules = compileRules(await readRules({ text: [{ name: 'r.yaml', yaml: RULES }] }), 'secret');
  const chunks: Buffer[] = [];
  for (let i = 0; i < dump.length; i += chunk) chunks.push(dump.subarray(i, i + chunk));
  const { output } = rewriteBuffer(chunks, { rules });
  return output;
}

describe('values written as bytes equal the same values written as text', () => {
  it.each([[20_000, 1 << 16], [20_000, 4093], [300, 97]])('%i rows, cut every %i bytes', async (rows, chunk) => {
    const [utf8, latin1] = await Promise.all([run('UTF8', rows, chunk), run('LATIN1', rows, chunk)]);
    const text = utf8.toString('latin1');
    expect(text.replace("client_encoding = 'UTF8'", "client_encoding = 'LATIN1'")).toBe(latin1.toString('latin1'));
    // the rules did run: no e-mail, token or label left as it was
    expect(text).not.toMatch(/user\d+@mail\.org|\ttok\d+\t|\tx\tx\t/);
    expect(text).toMatch(/\tu-1-Name 1\t/);
  });
});
