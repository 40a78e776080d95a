import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PiiDetector, PII_KINDS, scanDump } from '../src/commands/scan.js';

const BIN = 'bin/anonymise-dump.js';
const SAMPLE = 'fixtures/sample/sample.sql';
const cli = (args: string[], input?: Buffer) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, env: { PATH: process.env.PATH, ANONYMISE_DUMP_SECRET: 's' } });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
};

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
    expect(r.stderr).toMatch(/scan found personal data \(email, phone, postcode, ip, name, secret\)/);
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
