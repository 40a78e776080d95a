/** The scrub detectors on free text: what they replace, and that hostile text stays linear. */
import { describe, expect, it } from 'vitest';
import { compileScrubber } from '../src/pseudonym/detectors.js';
import { KeyRing } from '../src/pseudonym/keys.js';

const scrub = compileScrubber(['email', 'url', 'ip', 'phone', 'postcode'], new KeyRing('k'));

describe('scrub', () => {
  it.each([
    ['write to jo.bloggs@gmail.com today', ['jo.bloggs@gmail.com']],
    ['a@b.com-x@y.org', ['a@b.com', 'x@y.org']],
    ['call 07911 123456 or +447911123456', ['07911 123456', '+447911123456']],
    ['lives at SW1A 1AA, ip 81.2.69.160', ['SW1A 1AA', '81.2.69.160']],
    ['see https://council.example.gov.uk/x?y=1 now', ['https://council.example.gov.uk/x?y=1']],
  ])('%s: replaces %j', (text, found) => {
    const out = scrub(text);
    for (const f of found) expect(out).not.toContain(f);
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
  ])('leaves %s as it is', (_, text) => {
    expect(scrub(text)).toBe(text);
  });
});
