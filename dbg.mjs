import pg from 'pg';
const c = new pg.Client({ connectionString: 'postgresql://postgres@/wagtail_like?host=/tmp/adbench&port=55440' });
await c.connect();
const { PATTERNS } = await import('/work/main/dist/detectors.js');
const out = (await import('node:fs')).readFileSync('/work/main/bench/work/full-plain.sql', 'utf8');
const r = await c.query("select form_data::text v from wagtailforms_formsubmission");
const res = ['email','phone','postcode','ip'].map(k => new RegExp(PATTERNS[k], 'g'));
let n = 0;
for (const row of r.rows) {
  const j = JSON.parse(row.v);
  const cands = [j.name, j.email, j.phone];
  for (const re of res) { re.lastIndex = 0; for (const m of (j.message||'').matchAll(re)) cands.push(m[0]); }
  for (const x of cands) if (x && x.length >= 5 && out.includes(x)) { if (n++ < 5) console.log(JSON.stringify(x)); }
}
console.log(n); await c.end();
