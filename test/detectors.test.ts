/** The scrub detectors on free text: what they replace, and that hostile text stays linear. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileScrubber, DETECTOR_NAMES, DETECTORS, matches, passesAsFake, scrubLeaves } from '../src/pseudonym/detectors.js';
import { anchoredReplace } from '../src/pseudonym/anchored.js';
import { KeyRing } from '../src/pseudonym/keys.js';

const scrub = compileScrubber(DETECTOR_NAMES, new KeyRing('k'));
const kindsIn = (text: string) => [...new Set([...matches(text)].map((m) => m.kind))].sort();

describe('scrub', () => {
  it.each([
    ['write to jo.bloggs@gmail.com today', ['jo.bloggs@gmail.com']],
    ['a@b.com-x@y.org', ['a@b.com', 'x@y.org']],
    ['call 07911 123456 or +447911123456', ['07911 123456', '+447911123456']],
    ['lives at SW1A 1AA, ip 81.2.69.160', ['SW1A 1AA', '81.2.69.160']],
    ['see https://council.example.gov.uk/x?y=1 now', ['https://council.example.gov.uk/x?y=1']],
    ['appelez le +33 6 12 34 56 78', ['+33 6 12 34 56 78', '12 34 56 78']],
    ['US office +1 (415) 555-0132.', ['(415) 555-0132']],
    ['ring 0044 7911 123456 abroad', ['7911 123456']],
    ['mobile 07911.123.456', ['07911.123.456']],
    ['postcode SW1A  1AA (two spaces)', ['SW1A  1AA']],
    ['quoted "john smith"@gmail.com local part', ['john smith', 'gmail.com']],
    ['non-ASCII jöhn.müller@exämple.de and 山田@例え.jp', ['jöhn', 'müller', '山田']],
    ['leading zeros 192.168.001.010', ['192.168.001.010']],
    ['IPv6 2a00:1450:4009:81f::200e here', ['2a00:1450:4009:81f::200e']],
    ['card 4111 1111 1111 1111 paid', ['4111 1111 1111 1111']],
    ['NI number AB 12 34 56 C', ['AB 12 34 56 C']],
    ['role password md5f3b1c7a0a3f1a9b2c4d5e6f708192a3b', ['md5f3b1c7a0a3f1a9b2c4d5e6f708192a3b']],
    ['CONNECTION host=db user=app password=s3cr3t dbname=x', ['s3cr3t']],
    ['postgresql://app:hunter22@db.internal/app', ['hunter22']],
    ['-----BEGIN RSA PRIVATE KEY-----', ['BEGIN RSA PRIVATE KEY']],
    ['token ghp_abcdefghijklmnopqrstuvwxyz0123456789 in text', ['ghp_abcdefghijklmnopqrstuvwxyz0123456789']],
    ['digits in pairs: 01 - 23 - 45 - 67 - 89', ['01 - 23 - 45 - 67 - 89']],
    ['a card digit by digit: 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1', ['4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1']],
  ])('%s: replaces %j', (text, found) => {
    const out = scrub(text);
    for (const f of found) expect(out).not.toContain(f);
  });

  it('scan finds what scrub replaces: a phone written in pairs of digits, a card digit by digit', () => {
    expect(kindsIn('ring 01 - 23 - 45 - 67 - 89')).toEqual(['phone']);
    expect(kindsIn('paid 4-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1')).toEqual(['card']);
    expect(passesAsFake('phone', '01 - 23 - 45 - 67 - 89')).toBe(false);
  });

  it.each([
    ['a uuid', '0e4f6a1c-0123-4567-8901-234567890123', []],
    ['a date and a time', '2024-01-15 10:30:00', []],
    ['a decimal number', '0.1234567890', []],
    ['a version number', 'v1.2.3.4.5', []],
    ['a hex colour', '#ff66ff and ff66ff', []],
    ['our own fakes', 'alex.k3j2qd7xmz4a@example.com 07700 900123 ZZ12 3AB 192.0.2.7', []],
    ['loopback', 'listen on 127.0.0.1', []],
    ['a UK landline', 'call (020) 7946 0958', ['phone']],
  ])('finds in %s: %j', (_name, text, kinds) => {
    expect(kindsIn(text)).toEqual(kinds);
  });

  it('leaves a uuid with phone-like digits whole', () => {
    const uuid = '01234567-0123-0123-0123-012345678901';
    expect(scrub(uuid)).toBe(uuid);
  });

  it('replaces the last 256 characters of an over-long local part with the domain', () => {
    const local = 'x'.repeat(44) + 'y'.repeat(256);
    const out = scrub(`${local}@mail.example-isp.net`);
    expect(out).not.toContain('example-isp');
    expect(out).not.toContain('y');
    expect(out.startsWith('x'.repeat(44))).toBe(true);
  });

  it.each([
    ['a run of local-part characters before a lone @', 'a'.repeat(100_000) + '@'],
    ['dotted labels without a top-level domain', 'x@' + 'a.'.repeat(50_000) + '!'],
    ['a long run of digits and spaces', '0 '.repeat(100_000)],
    ['a long run of dotted digits', '1.'.repeat(100_000)],
    ['a long quoted run before no @', '"' + 'a'.repeat(100_000)],
    ['many @, each after a long local part and before no domain', ('a'.repeat(300) + '@').repeat(1_000)],
    ['many quotes, each before an @', '"@'.repeat(50_000)],
    ['an @ after each of many short quoted words', '"ab"@ '.repeat(20_000)],
  ])('leaves %s as it is', (_, text) => {
    expect(scrub(text)).toBe(text);
  });
});

describe('networks keep their prefix', () => {
  // a cidr value with host bits set does not restore: the fake network is cleared to its prefix
  it.each([
    ['10.1.0.0/16', /^0\.0\.0\.0\/16$/],
    ['192.168.5.0/24', /^(192\.0\.2|198\.51\.100|203\.0\.113)\.0\/24$/],
    ['192.168.5.128/25', /^(192\.0\.2|198\.51\.100|203\.0\.113)\.(0|128)\/25$/],
    ['81.2.69.160/32', /^(192\.0\.2|198\.51\.100|203\.0\.113)\.\d+\/32$/],
    ['2a00:1450:4009::/48', /^2001:db8::\/48$/],
    ['2a00:1450::/16', /^::\/16$/],
    ['host 81.2.69.160 seen', /^host (192\.0\.2|198\.51\.100|203\.0\.113)\.\d+ seen$/],
  ])('%s', (text, want) => {
    const out = scrub(text);
    expect(out).toMatch(want);
    // what scrub writes is its own: scrubbed again, it stays
    expect(scrub(out)).toBe(out);
  });
});

describe('digit-free text skips the kinds that need a digit', () => {
  // the scrubber runs phone, postcode, card, address and nino only on text with a digit: that is
  // sound only while each one's own pre-test, and so each match, needs one (Unicode digits included)
  const text = fc.string({
    unit: fc.oneof(fc.constantFrom('SW', 'A', 'AA', ' ', '+', '(', ')', '-', '.', ',', '٣', '３', '¹', 'Ⅻ', 'O', 'l', 'Street', '\n'), fc.string({ maxLength: 1, unit: 'grapheme' })),
    maxLength: 40,
  });
  const needDigit = DETECTORS.filter((d) => d.digits);
  it('covers the kinds that find numbers', () => {
    expect(needDigit.map((d) => d.kind).sort()).toEqual(['address', 'card', 'nino', 'phone', 'postcode']);
  });
  it('no such kind matches, or may match, text without an ASCII digit', () => {
    fc.assert(
      fc.property(text, (t) => {
        const digitFree = t.replace(/[0-9]/g, '');
        for (const d of needDigit) expect(d.may(digitFree)).toBe(false);
        expect([...matches(digitFree, needDigit.map((d) => d.kind))]).toEqual([]);
        expect(scrub(digitFree)).toBe(compileScrubber(DETECTOR_NAMES.filter((n) => !needDigit.some((d) => d.kind === n)), new KeyRing('k'))(digitFree));
      }),
      { numRuns: 3000 },
    );
  });
  it.each([
    ['a reserved drama number passes', 'phone', '07700 900123', true],
    ['text without + or 0 passes as a fake phone', 'phone', 'ring 7911 123456', true],
    ['a real mobile is not a fake', 'phone', 'call 07911 123456', false],
    ['a postcode is not a fake', 'postcode', 'SW1A 1AA', false],
    ['words pass as a fake postcode', 'postcode', 'no code here', true],
  ] as const)('passesAsFake: %s', (_what, kind, t, passes) => {
    expect(passesAsFake(kind, t)).toBe(passes);
  });
  // (a phone without + or 0 anywhere passes by design: fakes are drawn in UK formats)
  it('passesAsFake is "scrub finds no such match" for text with a 0', () => {
    const numbers = fc.string({ unit: fc.constantFrom('0', '7', '1', '9', ' ', '+', '44', 'SW', '1A', 'AA', 'M', 'x', '-', '(', ')'), maxLength: 24 });
    fc.assert(
      fc.property(numbers, fc.constantFrom('phone', 'postcode'), (rest, kind) => {
        const t = `0${rest}`;
        expect(passesAsFake(kind, t)).toBe([...matches(t, [kind])].length === 0);
      }),
      { numRuns: 5000 },
    );
  });
});

describe("each kind's pre-test passes every text its pattern matches", () => {
  // a pre-test (`may`) only spares the pattern's run: text it turns away must hold no match
  const shapes = fc.string({
    unit: fc.oneof(
      fc.constantFrom('SW1A', '1AA', 'GIR', '0AA', 'M1', ' ', '  ', '1', '9', '0', 'AB', 'st', 'nd', 'Cv', '.', '-', '@', ':', '//', 'x', 'Street', 'Rd', '٣', 'é', '\t', ' - ', '01', '23', '+4', '(0', '4 1 1 1', '1-1-1-1'),
      fc.string({ maxLength: 1, unit: 'grapheme' }),
    ),
    maxLength: 30,
  });
  it.each(DETECTORS.map((d) => [d.kind, d] as const))('%s', (_kind, d) => {
    const pattern = new RegExp(d.pattern, 'u');
    fc.assert(
      fc.property(shapes, (t) => {
        if (pattern.test(t)) expect(d.may(t)).toBe(true);
      }),
      { numRuns: 3000 },
    );
    // and it does turn text away: a pre-test that passes everything spares nothing
    expect(d.may('plain words, nothing else')).toBe(false);
  });
});

describe('an anchored kind replaces what String#replace replaces', () => {
  // the search for a match is tried only where the anchor says one may begin (anchored.ts): sound only
  // while every match holds an anchor and begins there
  const shapes = fc.string({
    unit: fc.oneof(
      fc.constantFrom('SW1A', '1AA', 'GIR', 'gir', '0AA', '0aa', 'M1', 'EC1A', '1BB', 'W1', ' ', '  ', '1', '9', '0', 'AB', 'zz', '.', '..', ':', '::', 'fe80', 'a', 'ffff', '192', '168', '255', '1.2', '\n', 'é', '🎉', '٣', '+', '(', ')', '-', '07911', '123456', '+44', '(0', '20 7946'),
      // e-mail parts: quoted local parts, letters outside the BMP (𝐀 is one, 🎉 is not), the 256 limit
      fc.constantFrom('@', '"', '"john smith"', 'x@y.co', '@example.com', 'mail', '.uk', "o'brien", '_%+', '\\', '\r', '𝐀', 'ß', 'a'.repeat(130), '😀'.repeat(2)),
      fc.string({ maxLength: 1, unit: 'grapheme' }),
    ),
    maxLength: 40,
  });
  const anchored = DETECTORS.filter((d) => d.anchor);
  it('covers e-mail addresses, postcodes, IP addresses and phone numbers', () => {
    expect(anchored.map((d) => d.kind).sort()).toEqual(['email', 'ip', 'phone', 'postcode']);
  });
  const examples = ['SW1A 1AA', 'gir  0aa', 'W1 9ZZ', 'x M1 1AE.', '1.2.3.4', '255.255.255.255', '::1', 'fe80::1', '2a00:1450:4009:81f::200e', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'call 07911 123456', '+44 20 7946 0000', '(020) 7946 0000', 'x (0161) 496 0000.',
    'mail me: jo.smith@example.co.uk, or "jo smith"@x.org', `${'b'.repeat(300)}@long.example`, 'zoë.𝐀@ünï.de and x@y', 'a@b@c.com'];
  it.each(anchored.map((d) => [d.kind, d] as const))('%s: the same matches, at the same offsets', (_kind, d) => {
    const re = new RegExp(d.pattern, 'gu');
    const sticky = new RegExp(d.pattern, 'uy');
    const mark = (m: string, ...rest: unknown[]) => `<${m}@${String(rest[rest.length - 2])}>`;
    const found = (t: string) => [...t.matchAll(re)].filter((m) => (d.valid?.(m[0]) ?? true) && !d.reserved(m[0])).map((m) => [m[0], m.index]);
    fc.assert(
      fc.property(shapes, (t) => {
        expect(anchoredReplace(t, sticky, d.anchor!, mark)).toBe(t.replace(re, mark));
        // what scan and the leak check see (matches) is found the same way
        expect([...matches(t, [d.kind])].map((m) => [m.text, m.index])).toEqual(found(t));
      }),
      { numRuns: 5000 },
    );
    for (const t of examples) {
      expect(anchoredReplace(t, sticky, d.anchor!, mark)).toBe(t.replace(re, mark));
      expect([...matches(t, [d.kind])].map((m) => [m.text, m.index])).toEqual(found(t));
    }
    // each match holds an anchor, and begins where the anchor says, on texts with matches
    const anchor = new RegExp(d.anchor!.re.source, 'g');
    let seen = 0;
    for (const t of examples) {
      let end = 0;
      for (const m of t.matchAll(re)) {
        anchor.lastIndex = m.index;
        const a = anchor.exec(t);
        const a0 = a?.index ?? -1;
        const begins = 'start' in d.anchor! ? d.anchor.start(t, a0, end) === m.index : a0 >= 0 && a0 - m.index <= d.anchor!.reach;
        expect(begins, `${d.kind} in ${t}`).toBe(true);
        end = m.index + m[0].length;
        seen++;
      }
    }
    expect(seen).toBeGreaterThanOrEqual(4);
  });
});

describe('a text that holds none of the characters its kinds need is left as it is, undecoded', () => {
  // scrubLeaves lets a json walk or a COPY field keep such text as its bytes: sound only while every
  // match of each kind holds one of its `holds` characters (whether valid, reserved or not)
  const shapes = fc.string({
    unit: fc.oneof(
      fc.constantFrom('SW1A', '1AA', 'W1', ' ', '1', '0', '9', '.', ':', '::', 'abc', 'fe', 'ff:ee', 'a:b', '@', 'x@y.co', 'jo', '.uk', 'http', 'https://', 's://', '//', 'x.org/', '+44', '(0', '20 7946', '4111', '-', '\t', '\n', '\u0001', 'é', '٣', '３', 'AB', 'C', 'Street'),
      fc.string({ maxLength: 1, unit: 'grapheme' }),
    ),
    maxLength: 40,
  });
  const holding = DETECTORS.filter((d) => d.holds !== undefined);
  it('covers every kind scrub can name but secrets', () => {
    expect(holding.map((d) => d.kind).sort()).toEqual(DETECTOR_NAMES.filter((n) => n !== 'secret').sort());
  });
  it.each(holding.map((d) => [d.kind, d] as const))('%s: every match holds one of its characters', (_kind, d) => {
    const re = new RegExp(d.pattern, 'gu');
    const holds = (m: string) => [...d.holds!].some((c) => m.includes(c));
    fc.assert(
      fc.property(shapes, (t) => {
        for (const m of t.matchAll(re)) expect(holds(m[0])).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
  const names = ['email', 'phone', 'postcode', 'ip', 'url'];
  it.each([
    [names, 'please fix the pot hole by the green', true],
    [names, 'ring 0161 496 0000', false],
    [names, 'mail jo at home', true],
    [names, 'mail jo@home.org', false],
    [names, 'see http', true],
    [names, 'see https://x.org', false],
    [names, 'address abc::def', false],
    [names, 'zoë in 漢 🎉', true],
    [names, 'a tab\there', false],
    [names, 'a raw \u0001 byte', false],
    [['email'], 'room 101', true],
    [['postcode'], 'at: noon', true],
    [['secret'], 'plain words', null],
    [['email', 'secret'], 'plain words', null],
  ] as const)('%j: %j → %s', (kinds, text, expected) => {
    const leaves = scrubLeaves(kinds);
    if (expected === null) return expect(leaves).toBeNull();
    const b = Buffer.from(`"${text}"`);
    expect(leaves!(b, 1, b.length - 1)).toBe(expected);
  });
  it('what it leaves, the scrubber leaves, and holds no control character', () => {
    const scrubs = [names, ['email'], ['phone', 'postcode'], ['ip'], ['url'], DETECTOR_NAMES.filter((n) => n !== 'secret')].map((k) => [scrubLeaves(k)!, compileScrubber(k, new KeyRing('k'))] as const);
    let left = 0;
    fc.assert(
      fc.property(shapes, (t) => {
        const b = Buffer.from(t, 'utf8');
        for (const [leaves, scrubber] of scrubs)
          if (leaves(b, 0, b.length)) {
            left++;
            expect(scrubber(t)).toBe(t);
            expect(t).not.toMatch(/[\u0000-\u001f]/);
          }
      }),
      { numRuns: 3000 },
    );
    expect(left).toBeGreaterThan(1000);
  });
});
