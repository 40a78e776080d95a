import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LocaleDefinition } from '@faker-js/faker';
import { compileFake, isOriginal, loadLocales, patternFiller, patternMayHoldPhone } from '../src/pseudonym/fake.js';
import { isMarkedName, nameMark, passesAsFake } from '../src/pseudonym/detectors.js';
import { KeyRing, Prng, uniqueToken } from '../src/pseudonym/keys.js';
import { REST, WINDOW } from '../src/pseudonym/memo.js';
import { ByteDraft } from '../src/text/byte-draft.js';

const LOCALES = ['en', 'en_GB', 'de', 'fr', 'ja', 'ru'];
const METHODS = ['internet.email', 'internet.exampleEmail', 'internet.username', 'internet.userName', 'phone.number', 'person.firstName', 'person.lastName', 'person.middleName', 'person.fullName'];
const defs = new Map<string, LocaleDefinition>();

beforeAll(async () => {
  await loadLocales(LOCALES);
  for (const l of LOCALES) defs.set(l, ((await import(`@faker-js/faker/locale/${l}`)) as { faker: { rawDefinitions: LocaleDefinition } }).faker.rawDefinitions);
});

/**
 * The fakes as text, as they were made before they were written as bytes (string concatenation over
 * faker's lists): what the byte generators must give, draw for draw.
 */
function reference(d: LocaleDefinition): Record<string, (rng: Prng, token: string | null) => string> {
  const names = (key: 'first_name' | 'last_name' | 'middle_name') => {
    const e = d.person?.[key] as { generic?: string[]; female?: string[]; male?: string[] } | undefined;
    const list = e?.generic ?? [...(e?.female ?? []), ...(e?.male ?? [])];
    return list.length > 0 ? list : ['Alex'];
  };
  const marked = (l: string[]) => (l.filter(isMarkedName).length > 0 ? l.filter(isMarkedName) : l);
  const slug = (s: string) => s.normalize('NFKD').replace(/[^A-Za-z0-9]/g, '').toLowerCase() || 'user';
  const [first, last, middle] = [names('first_name'), names('last_name'), names('middle_name')];
  const byMark: string[][] = Array.from({ length: 16 }, () => []);
  for (const l of last) byMark[nameMark(l)]!.push(l);
  const format = d.phone_number?.format as { human?: string[]; national?: string[] } | undefined;
  const phones = (format?.human ?? format?.national ?? ['###-###-####']).map((f) => ({ fill: patternFiller(f), searched: patternMayHoldPhone(f) }));
  const domains = ['example.com', 'example.org', 'example.net'];
  const tail = (v: string, token: string | null, sep: string) => (token === null ? v : `${v}${sep}${token}`);
  const local = (rng: Prng, token: string | null) => {
    const f = rng.pick(first.map(slug));
    const l = rng.pick(last.map(slug));
    return token === null ? `${f}.${l}${rng.below(100)}` : `${f}.${l}.${token}`;
  };
  const email = (rng: Prng, token: string | null) => `${local(rng, token)}@${rng.pick(domains)}`;
  return {
    'internet.email': email,
    'internet.exampleEmail': email,
    'internet.username': local,
    'internet.userName': local,
    'phone.number': (rng, token) => {
      const f = rng.pick(phones);
      const n = f.fill(rng);
      return tail(!f.searched || passesAsFake('phone', n) ? n : `07700 900${String(rng.below(1000)).padStart(3, '0')}`, token, ' x');
    },
    'person.firstName': (rng, token) => tail(rng.pick(marked(first)), token, ' '),
    'person.lastName': (rng, token) => tail(rng.pick(marked(last)), token, ' '),
    'person.middleName': (rng, token) => tail(rng.pick(marked(middle)), token, ' '),
    'person.fullName': (rng, token) => {
      const f = rng.pick(first);
      const bucket = byMark[(16 - nameMark(f)) & 15]!;
      return tail(bucket.length > 0 ? `${f} ${rng.pick(bucket)}` : `${rng.pick(marked(first))} ${rng.pick(marked(last))}`, token, ' ');
    },
  };
}

const value = fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.emailAddress(), fc.constantFrom('Thomas', 'Zoë', '07700 900123', 'x'));

describe('fakes written as bytes', () => {
  it.each(LOCALES.flatMap((l) => METHODS.flatMap((m) => [[l, m, false], [l, m, true]] as [string, string, boolean][])))(
    '%s %s (unique %s): the text its bytes make is the one made by concatenation, for any value',
    (locale, method, unique) => {
      const keys = new KeyRing('k');
      const fake = compileFake({ method, unique, locale }, keys);
      const ref = reference(defs.get(locale)!)[method]!;
      const sip = keys.sip(`fake\0${method}\0${locale}\0${unique ? 'unique' : ''}`);
      const rng = new Prng();
      fc.assert(
        fc.property(value, (s) => {
          const v = Buffer.from(s);
          sip.hash(v, 0, v.length);
          rng.seed(sip.hi, sip.lo);
          const token = unique ? uniqueToken(sip.hi, sip.lo) : null;
          let want = ref(rng, token);
          for (let tries = 0; tries < 8 && isOriginal(want, v, 0, v.length); tries++) want = ref(rng, token);
          expect(fake(v)).toBe(want);
          // and as bytes, from inside a larger buffer (a field of a row)
          const row = Buffer.concat([Buffer.from('7\t'), v, Buffer.from('\tx')]);
          const d = new ByteDraft();
          fake.draft!.into(d, row, 2, 2 + v.length);
          expect(d.view().equals(Buffer.from(want))).toBe(true);
        }),
        { numRuns: 150 },
      );
    },
  );

  it('a fake equal to its value is drawn again, as bytes too', () => {
    // the names a first-name fake gives for a few values, fed back as values: none comes back as itself
    const fake = compileFake({ method: 'person.firstName', unique: false, locale: 'en' }, new KeyRing('k'));
    const d = new ByteDraft();
    let same = 0;
    for (let i = 0; i < 3000; i++) {
      const name = Buffer.from(fake(Buffer.from(`p${i}`)));
      fake.draft!.into(d, name, 0, name.length);
      if (d.view().equals(name)) same++;
      expect(fake(name)).toBe(d.text());
    }
    expect(same).toBe(0);
  });

  it.each(LOCALES)('%s: the lists hold nothing COPY text or a JSON string escapes, so the bytes go out as they are', (locale) => {
    const fake = compileFake({ method: 'person.fullName', unique: false, locale }, new KeyRing('k'));
    expect(fake.draft!.plain).toBe(true);
  });

  it('takes values as bytes only while the table of repeats is passed by, and counts them as the table would', () => {
    const fake = compileFake({ method: 'internet.email', unique: false, locale: 'en' }, new KeyRing('k'));
    const w = fake.draft!;
    expect(w.ready()).toBe(false);
    // distinct values: the first window finds no repeat, and the table is passed by
    for (let i = 0; i < WINDOW; i++) fake(Buffer.from(`u${i}@x.org`));
    expect(w.ready()).toBe(true);
    const d = new ByteDraft();
    for (let i = 0; i < REST * WINDOW - 1; i++) w.into(d, Buffer.from(`v${i}`), 0, `v${i}`.length);
    expect(w.ready()).toBe(true);
    w.into(d, Buffer.from('last'), 0, 4);
    // rested: the table is tried again for the next values
    expect(w.ready()).toBe(false);
  });

  it('a method without bytes (faker\'s own, or text of its own) has no writer', () => {
    for (const method of ['company.name', 'location.zipCode', 'internet.ipv4', 'string.uuid']) {
      expect(compileFake({ method, unique: false, locale: 'en_GB' }, new KeyRing('k')).draft).toBeUndefined();
    }
  });
});
