// npm run bench (called by bench/run.sh): the cost per value of each rule kind, in process — the time
// to rewrite one column of a 200,000-row COPY table under the kind, less the time to copy it under
// `keep`, per row. Best of 5 runs each. Writes a markdown table to stdout.
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileRules, readRules, rewriteBuffer } from '../dist/index.js';

const ROWS = 200_000;
const dir = mkdtempSync(join(tmpdir(), 'anonymise-dump-kinds-bench-'));
writeFileSync(join(dir, 't.mjs'), 'export const upper = (v) => v.toUpperCase();\n');
let body = '';
for (let i = 0; i < ROWS; i++) {
  const d = `20${String(10 + (i % 15))}-0${1 + (i % 9)}-1${i % 10} 1${i % 10}:2${i % 10}:00+00`;
  body += `${i}\t${d}\t${(i * 37.31).toFixed(2)}\tsome free text ${i} REF-${i % 1000}\tSW${1 + (i % 20)}A ${i % 10}AA\t81.2.${i % 256}.${(i * 7) % 256}\n`;
}
const dump = Buffer.from(
  "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\nCREATE TABLE public.t (\n    id integer,\n    d timestamp with time zone,\n    n numeric(12,2),\n    txt text,\n    pc text,\n    ip inet\n);\n\n" +
    `COPY public.t (id, d, n, txt, pc, ip) FROM stdin;\n${body}\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n`,
);
const cases = [
  ['keep (baseline)', 'd', 'keep'],
  ['generalise: year', 'd', '{ generalise: year }'],
  ['generalise: { step: 100 }', 'n', '{ generalise: { step: 100 } }'],
  ['generalise: postcode_district', 'pc', '{ generalise: postcode_district }'],
  ['generalise: { ip_prefix: 24 }', 'ip', '{ generalise: { ip_prefix: 24 } }'],
  ['noise: { ratio: 0.1 }', 'n', '{ noise: { ratio: 0.1 } }'],
  ['noise: { days: 30 }', 'd', '{ noise: { days: 30 } }'],
  ['date_shift: { max_days: 365, by: id }', 'd', '{ date_shift: { max_days: 365, by: id } }'],
  ['pick: { from: [a, b, c] }', 'txt', '{ pick: { from: [a, b, c] } }'],
  ['replace: { pattern: "REF-\\\\d+", with: REF }', 'txt', '{ replace: { pattern: "REF-\\\\d+", with: REF } }'],
  ['js: toUpperCase', 'txt', '{ js: "./t.mjs#upper" }'],
];
const time = async (col, rule) => {
  const cols = ['id', 'd', 'n', 'txt', 'pc', 'ip'].map((c) => `${c}: ${c === col ? rule : 'keep'}`).join(', ');
  const yaml = `version: 1\ntables:\n  t: { columns: { ${cols} } }\n`;
  const rules = compileRules(await readRules({ text: [{ name: join(dir, 'r.yaml'), yaml }], js: 'run' }), 'bench-key-7f3a9c1e5b2d');
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    rewriteBuffer(dump, { rules });
    best = Math.min(best, performance.now() - t0);
  }
  return best;
};
// over `keep` (a table copied as bytes) a kind's time includes the row work every rewritten column costs
// (split the row, decode the field, escape and write the new value); `hash`, an older kind tuned for
// speed, shows that share: the second column is the kind's own cost beside it
const base = await time('d', 'keep');
const perValue = (t) => ((t - base) * 1000) / ROWS;
const hashCost = perValue(await time('txt', '{ hash: {} }'));
console.log('| rule kind (one column of a 200,000-row table) | µs per value over `keep` | µs per value over `hash` |');
console.log('|---|---:|---:|');
for (const [name, col, rule] of cases.slice(1)) {
  const us = perValue(await time(col, rule));
  console.log(`| \`${name}\` | ${us.toFixed(2)} | ${(us - hashCost).toFixed(2)} |`);
}
rmSync(dir, { recursive: true, force: true });
