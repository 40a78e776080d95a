import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkFakeSpec, compileFake, isOriginal, loadLocales, patternFiller, patternMayHoldPhone } from '../src/pseudonym/fake.js';
import { matches } from '../src/pseudonym/detectors.js';
import { KeyRing, Prng, uniqueToken } from '../src/pseudonym/keys.js';

const keys = (s = 'k') => new KeyRing(s);
const b = (s: string) => Buffer.from(s, 'utf8');

beforeAll(() => loadLocales(['en', 'en_GB']));

describe('deterministic fakes', () => {
  it('unique tokens: the low 30 bits of each half of the hash, five bits a base32 letter, low bits first', () => {
    const letters = 'abcdefghijklmnopqrstuvwxyz234567';
    const spelled = (x: number) => Array.from({ length: 6 }, (_, i) => letters[(x >>> (5 * i)) & 31]).join('');
    expect(uniqueToken(0, 0)).toBe('aaaaaaaaaaaa');
    expect(uniqueToken(1, 31)).toBe('baaaaa7aaaaa');
    expect(uniqueToken(-1, 0x40000000)).toBe('777777aaaaaa');
    fc.assert(fc.property(fc.integer(), fc.integer(), (hi, lo) => uniqueToken(hi, lo) === spelled(hi >>> 0) + spelled(lo >>> 0)), { numRuns: 5000 });
  });

  it('gives the same fake for the same value and key, another for another key', () => {
    const f1 = compileFake({ method: 'internet.email', unique: false, locale: 'en' }, keys());
    const f2 = compileFake({ method: 'internet.email', unique: false, locale: 'en' }, keys());
    const f3 = compileFake({ method: 'internet.email', unique: false, locale: 'en' }, keys('other'));
    expect(f1(b('a@b.com'))).toBe(f2(b('a@b.com')));
    expect(f1(b('a@b.com'))).not.toBe(f3(b('a@b.com')));
  });

  it('unique: true gives distinct e-mails for 200,000 distinct inputs, all on reserved domains', () => {
    const f = compileFake({ method: 'internet.email', unique: true, locale: 'en' }, keys());
    const seen = new Set<string>();
    for (let i = 0; i < 200_000; i++) {
      const v = f(b(`person${i}@gmail.com`));
      expect(v).toMatch(/^[a-z0-9]+\.[a-z0-9]+\.[a-z2-7]{12}@example\.(com|org|net)$/);
      seen.add(v);
    }
    expect(seen.size).toBe(200_000);
  });

  it.each(['person.firstName', 'person.lastName', 'person.fullName', 'internet.username', 'phone.number', 'location.zipCode', 'string.uuid', 'internet.ipv4', 'company.name', 'location.streetAddress', 'lorem.sentence', 'date.past'])(
    '%s is deterministic across fresh instances',
    (method) => {
      const a = compileFake({ method, unique: false, locale: 'en_GB' }, keys());
      const c = compileFake({ method, unique: false, locale: 'en_GB' }, keys());
      const outs = ['x', 'y', 'zoë'].map((v) => a(b(v)));
      expect(['x', 'y', 'zoë'].map((v) => c(b(v)))).toEqual(outs);
      expect(outs.every((o) => typeof o === 'string' && o.length > 0)).toBe(true);
    },
  );

  it.each([
    ['en', 'phone.number', /^(1-|\+1-)?\(?[2-9]\d\d\)?[-. ][2-9]\d\d[-.]\d{4}( x\d+)?$/],
    ['en_GB', 'phone.number', /^[0-9 ()+-]+$/],
    ['en_GB', 'location.zipCode', /^[A-Z]{1,2}\d[A-Z\d]{0,2} \d{1,2}[A-Z]{1,2}$/],
  ])('%s %s fills every placeholder of faker\'s formats (# digit, ! digit 2-9, ? letter, * either)', (locale, method, re) => {
    const f = compileFake({ method, unique: false, locale }, keys());
    for (let i = 0; i < 2000; i++) expect(f(b(`v${i}`))).toMatch(re);
  });

  it.each([
    ['internet.emial', /unknown faker method/],
    ['helpers.arrayElement', /unknown faker method/],
    ['person.constructor', /unknown faker method/],
    ['person', /unknown faker method/],
    ['string.fromCharacters', /needs arguments|does not return/],
  ])('refuses %s', (method, re) => {
    expect(checkFakeSpec({ method, unique: false, locale: 'en' })).toMatch(re);
  });
});

describe('pattern fills and the fake-equals-original check', () => {
  // faker's fill, a character at a time: the draws a filler must make, in this order, for the same fakes
  const reference = (rng: Prng, pattern: string) =>
    [...pattern]
      .map((ch) => {
        if (ch === '#') return '0123456789'[rng.below(10)];
        if (ch === '!') return '23456789'[rng.below(8)];
        if (ch === '?') return 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'[rng.below(26)];
        if (ch === '*') return rng.below(36) < 10 ? '0123456789'[rng.below(10)] : 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'[rng.below(26)];
        return ch;
      })
      .join('');
  it('a filler draws as faker does, and leaves the generator where faker would', () => {
    const unit = fc.constantFrom('#', '!', '?', '*', '0', ' ', '-', '(', 'é', '\u{1F600}');
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 20 }), fc.integer(), fc.integer(), (pattern, hi, lo) => {
        const a = new Prng();
        const c = new Prng();
        a.seed(hi, lo);
        c.seed(hi, lo);
        const fill = patternFiller(pattern);
        // twice from one filler: its array of codes is reused
        expect([fill(a), fill(a)]).toEqual([reference(c, pattern), reference(c, pattern)]);
        expect(a.nextU32()).toBe(c.nextU32());
      }),
      { numRuns: 3000 },
    );
  });

  it.each([
    ['same ASCII', 'Thomas', 'Thomas', true],
    ['one byte differs', 'Thomas', 'Thomaz', false],
    ['shorter text', 'Thom', 'Thomas', false],
    ['longer text', 'Thomas', 'Thom', false],
    ['empty', '', '', true],
    ['same, not ASCII', 'Zoë', 'Zoë', true],
    ['ASCII prefix, then not', 'Zoë', 'Zoe\u0308', false],
    ['an ASCII text against invalid UTF-8 of its length', 'Zo?', Buffer.from([0x5a, 0x6f, 0xff]), false],
    ['U+FFFD against an invalid byte (decoding would call them equal)', 'Zo\ufffd', Buffer.from([0x5a, 0x6f, 0xff]), false],
  ])('isOriginal: %s', (_, text, value, same) => {
    const buf = typeof value === 'string' ? Buffer.from(value) : value;
    // inside a larger buffer, as a field of a row
    const row = Buffer.concat([Buffer.from('7\t'), buf, Buffer.from('\tx')]);
    expect(isOriginal(text, row, 2, 2 + buf.length)).toBe(same);
  });

  it('isOriginal agrees with decoding the bytes, for any text and any bytes', () => {
    const bytes = fc.oneof(fc.string({ unit: 'binary' }).map((s) => Buffer.from(s)), fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a)));
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 12 }), bytes, (text, value) => {
        const decoded = value.toString('utf8');
        // decoding turns invalid bytes into U+FFFD: the field reaching a fake is valid UTF-8 (row-cursor.ts)
        if (!Buffer.from(decoded).equals(value)) return;
        expect(isOriginal(text, value, 0, value.length)).toBe(decoded === text);
        expect(isOriginal(decoded, value, 0, value.length)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('phone formats that cannot hold a phone number are not searched', () => {
  // a wildcard draws any of these (patternFiller); a literal stands for itself
  const draws: Record<string, string> = { '#': '0123456789', '!': '23456789', '?': 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', '*': '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ' };
  const pattern = fc.string({ unit: fc.constantFrom('#', '!', '?', '*', '0', '1', '7', '+', '(', ')', ' ', '-', '.', 'x', '/', '_', 'é'), maxLength: 16 });
  it('a pattern said to hold none gives text where the detector finds none, whatever is drawn', () => {
    let never = 0;
    fc.assert(
      fc.property(pattern, fc.array(fc.nat(), { minLength: 16, maxLength: 16 }), (p, picks) => {
        if (patternMayHoldPhone(p)) return;
        never++;
        const text = [...p].map((ch, i) => (draws[ch] ? draws[ch]![picks[i]! % draws[ch]!.length]! : ch)).join('');
        expect([...matches(text, ['phone'])]).toEqual([]);
      }),
      { numRuns: 20000 },
    );
    expect(never).toBeGreaterThan(1000);
  });
  it.each([
    ['!##-!##-####', false],
    ['(!##) !##-#### x###', false],
    ['1-!##-!##-####', false],
    ['01### ######', true],
    ['(0##) ### ####', true],
    ['+1!##!######', true],
    ['## ##', true],
    ['x ##', true],
  ])('%s: searched %s', (p, searched) => {
    expect(patternMayHoldPhone(p)).toBe(searched);
  });
  it("en's formats are never searched, and its numbers are faker's own", async () => {
    const { allLocales } = await import('@faker-js/faker');
    const formats = allLocales.en.phone_number!.format as { human: string[] };
    expect(formats.human.filter(patternMayHoldPhone)).toEqual([]);
    const phone = compileFake({ method: 'phone.number', locale: 'en', unique: false }, keys());
    for (let i = 0; i < 200; i++) expect(phone(b(`person ${i}`))).not.toMatch(/^07700 900/);
  });
});
