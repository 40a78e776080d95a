import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratch } from './support/scratch.js';
import { describe, expect, it } from 'vitest';
import { PiiDetector, PII_KINDS, scanDump } from '../src/commands/scan.js';
import { SAMPLE, runCliText } from './support/cli.js';

const cli = (args: string[], input?: Buffer) => runCliText(args, { input, key: 'scan-k7Q2mZp9xR4v' });

describe('PII detectors', () => {
  const d = new PiiDetector({ first: new Set(['Olivia', 'George']), last: new Set(['Smith', 'Patel']) });
  const kinds = (t: string) => PII_KINDS.filter((_, i) => d.kinds(t) & (1 << i));
  it.each([
    ['write to jo.bloggs@gmail.com today', ['email']],
    ['user.7@example.com', []], // our own reserved fakes are not personal data
    ['call 07700 123456 or +44 20 7946 0018', ['phone']],
    ['07700 900123', []],
    ['page 0001000100010002 and token 4f3a07700123456789', []],
    ['I live at HP19 8FF', ['postcode']],
    ['ZZ99 9ZZ', []],
    ['from 81.2.69.160 and 2a00:23c4:1234::5678', ['ip']],
    ['from 192.0.2.10', []],
    ['card 4111 1111 1111 1111', ['card']],
    ['card 4111 1111 1111 1112', []],
    ['NI number QQ 12 34 56 C', []],
    ['NI number AB 12 34 56 C', ['nino']],
    ['Olivia Smith wrote', ['name']],
    ['Patel', ['name']],
    ['Council Tax', []],
    [Buffer.from('{"last_form": "a.person@gmail.com", "ip": "81.2.69.1"}').toString('base64') + ':1sig', ['email', 'ip']],
  ])('%s → %j', (text, expected) => {
    expect(kinds(text)).toEqual(expected);
  });
});

describe('scan', () => {
  it('counts personal data in the sample by table and column, including inside JSON and base64', async () => {
    const res = await scanDump((await import('node:fs')).createReadStream(SAMPLE));
    const t = res.tables;
    expect(t['public.users_user']!['email']!.found.email).toBe(40);
    expect(t['public.wagtailforms_formsubmission']!['form_data']!.found).toMatchObject({ email: 25, phone: 25 });
    expect(t['public.wagtailforms_formsubmission']!['form_data']!.found.name).toBeGreaterThan(0);
    expect(t['public.django_session']!['session_data']!.found).toMatchObject({ ip: 10 });
    expect(t['public.django_admin_log']!['object_repr']!.found.email).toBe(10);
    expect(t['public.feedback_feedbackcomment']!['issue']!.found).toMatchObject({ email: 5, postcode: 5 });
    expect(t['public.feedback_feedbackcomment']!['issue']!.nulls).toBe(5);
    expect(t['public.wagtailcore_page']!['slug']!.found.email).toBe(0);
  });

  it('prints counts, never values; --fail-on-pii gates on the input and passes on our output', () => {
    const r = cli(['scan', SAMPLE, '--fail-on-pii']);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^public\.users_user\.email\s+40\s+40\s/m);
    expect(r.stderr).toMatch(/scan found personal data \(email, phone, postcode, ip, name, secret, address\)/);
    for (const v of ['@gmail.com', 'HP19 8FF', 'Olivia']) expect(r.stdout + r.stderr).not.toContain(v);
    const safe = cli(['-q', '-r', 'rules/examples/council.yaml', SAMPLE]).stdout;
    const s = cli(['scan', '-', '--fail-on-pii', 'email,ip'], Buffer.from(safe)); // the council's own phone number is in its pages
    expect(s.status, s.stdout + s.stderr).toBe(0);
    const json = JSON.parse(cli(['scan', '--json', SAMPLE]).stdout);
    expect(json.tables['public.users_user'].email.found.email).toBe(40);
    expect(cli(['scan', SAMPLE, '--fail-on-pii', 'dna']).status).toBe(2);
  });

  it('scans INSERT-form dumps the same way', async () => {
    const { Readable } = await import('node:stream');
    const dump = readFileSync(SAMPLE, 'utf8');
    const res = await scanDump(Readable.from([Buffer.from(dump)]));
    expect(res.tables['public.users_user']!['first_name']!.values).toBe(40);
  });
});

describe('scan on our own output', () => {
  // real-looking inputs: scan must find them in the source and nothing in our output, whatever fakes the rules use
  const rows = [
    ['Olivia Smith', 'Olivia', 'Patel', '07911 123456', 'SW1A 1AA', 'olivia.smith@gmail.com'],
    ['George Jones', 'George', 'Taylor', '+44 20 7946 0018', 'LS1 4DY', 'george.j@hotmail.co.uk'],
    ['Amelia Brown', 'Amelia', 'Wilson', '0113 496 0000', 'M1 1AE', 'amelia@btinternet.com'],
  ];
  const dump =
    "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\n" +
    'CREATE TABLE public.people (\n    full_name text,\n    first text,\n    last text,\n    phone text,\n    postcode text,\n    email text\n);\n\n' +
    'COPY public.people (full_name, first, last, phone, postcode, email) FROM stdin;\n' +
    Array.from({ length: 200 }, (_, i) => rows[i % 3]!.map((v, c) => (c === 5 ? `${i}.${v}` : v)).join('\t')).join('\n') +
    '\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n';
  const rules = `version: 1
tables:
  people:
    columns:
      full_name: { fake: person.fullName, locale: en_GB }
      first: { fake: person.firstName, locale: en_GB }
      last: { fake: person.lastName, unique: true }
      phone: { fake: phone.number, locale: en_GB }
      postcode: { fake: location.zipCode, locale: en_GB }
      email: { fake: internet.email, unique: true }
`;

  it('finds every kind in the source and none in the output, names included', async () => {
    const { compileRules, readRules, rewriteBuffer } = await import('../src/engine/run.js');
    const { Readable } = await import('node:stream');
    const before = await scanDump(Readable.from([Buffer.from(dump)]));
    const found = (res: typeof before, col: string) => Object.entries(res.tables['public.people']![col]!.found).filter(([, n]) => n > 0).map(([k]) => k);
    expect(found(before, 'full_name')).toEqual(['name']);
    expect(found(before, 'phone')).toEqual(['phone']);
    expect(found(before, 'postcode')).toEqual(['postcode']);
    const compiled = compileRules(await readRules({ text: [{ name: 'r.yaml', yaml: rules }] }), 'a key of at least sixteen bytes');
    const { output } = rewriteBuffer(Buffer.from(dump), { rules: compiled });
    const after = await scanDump(Readable.from([output]));
    for (const col of ['full_name', 'first', 'last', 'phone', 'postcode', 'email']) expect(found(after, col), col).toEqual([]);
    // and the fakes vary: not one reserved value for all
    const fullNames = new Set(output.toString().split('\n').filter((l) => l.includes('@example.')).map((l) => l.split('\t')[0]));
    expect(fullNames.size).toBe(3);
  });
});

describe('the gate with the rules: a column kept with a reason was reviewed', () => {
  const DUMP = Buffer.from(
    "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\n" +
      'CREATE TABLE public.venue (id integer, city character varying(30), contact text);\n\n' +
      'COPY public.venue (id, city, contact) FROM stdin;\n1\tFlorence\tbox office\n2\tLincoln\tfront desk\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n',
  );
  const dir = scratch('ad-scan-reviewed-');
  const rules = (rule: string) => {
    const path = join(dir, `r-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(path, `version: 1\ntables:\n  venue: { columns: { id: keep, city: ${rule}, contact: keep } }\n`);
    return path;
  };
  it.each([
    ['no rules', null, 1, /scan found personal data \(name\)/],
    ['keep, no reason', 'keep', 1, /scan found personal data \(name\)/],
    ['keep with a reason', '{ keep: "town names, not people" }', 0, /1 column\(s\) the rules keep with a reason \(reviewed\)/],
  ] as const)('%s', (_what, rule, status, stderr) => {
    const r = cli(['scan', '-', '--fail-on-pii', ...(rule ? ['-r', rules(rule)] : [])], DUMP);
    expect(r.status).toBe(status);
    expect(r.stderr).toMatch(stderr);
    expect(r.stdout).toMatch(/public\.venue\.city/); // reported either way
  });
  it.each([['""'], ['3'], ['{ reason: x }']])('keep takes its reason as text, not %s', (v) => {
    const r = cli(['scan', '-', '--fail-on-pii', '-r', rules(`{ keep: ${v} }`)], DUMP);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/keep takes a reason as text/);
  });
});

describe('progress', () => {
  it.each([['scan'], ['init']])('%s --progress draws a line on stderr and clears it; --no-progress draws none', (cmd) => {
    const on = cli([cmd, SAMPLE, '--progress']);
    expect(on.status).toBe(0);
    expect(on.stderr).toMatch(/^(\r\x1b\[K[\d.]+ MB {2}\d+ MB\/s( {2}[\w.]+)?)*\r\x1b\[K$/);
    expect(on.stderr).toMatch(/MB\/s/);
    const off = cli([cmd, SAMPLE, '--no-progress']);
    expect(off.stderr).toBe('');
    expect(off.stdout).toBe(on.stdout);
  });
});

