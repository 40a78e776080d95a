/**
 * Personal-data detectors for free text: used by `scrub` rules (each match replaced by a
 * deterministic fake of the same kind) and by `scan` (counted, never printed).
 * Fakes use reserved ranges so that they are recognisably fake: example.com/.org/.net (RFC 2606),
 * Ofcom's numbers for drama (07700 900xxx), documentation IP ranges (RFC 5737, RFC 3849), and
 * the unassigned postcode area ZZ.
 */
import { KeyRing, Prng, uniqueToken } from './keys.js';
import type { SipHash } from './siphash.js';
import { withUtf8 } from '../dump/encoding.js';

export const DETECTOR_NAMES = ['email', 'phone', 'postcode', 'ip', 'url'];

// the local part at most 256 characters (RFC 5321 allows 64): unbounded, every position of a long run
// of such characters started a scan to its end, and 100,000 of them before an `@` took 4.9 s
const EMAIL = String.raw`[A-Za-z0-9._%+'-]{1,256}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`;
const URL = String.raw`https?://[^\s"'<>()\[\]{}]+`;
// UK numbers (0 then 1–9: 00… is an international prefix; +44 with spaces, dashes or brackets) and
// E.164 (+ and 8–15 digits); never part of a longer run of letters or digits (hex tokens, paths)
const PHONE = String.raw`(?<![\w+])(?:(?:\+44\s?(?:\(0\)\s?)?|\(?0)[1-9]\d{1,4}\)?[\s-]?\d{3,4}[\s-]?\d{3,4}|\+[1-9]\d{7,14})(?![\w])`;
// UK postcodes, in either case (people type them lower case in search boxes)
const POSTCODE = String.raw`\b(?:[Gg][Ii][Rr] ?0[Aa][Aa]|[A-PR-UWYZa-pr-uwyz][A-HK-Ya-hk-y]?\d[A-Za-z\d]? ?\d[ABD-HJLNP-UW-Zabd-hjlnp-uw-z]{2})\b`;
const IPV4 = String.raw`\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b`;
const H = '[0-9A-Fa-f]{1,4}';
// full form, or compressed with `::` (group counts not enforced: a detector, not a validator)
const IPV6 = `(?<![0-9A-Za-z:])(?:(?:${H}:){7}${H}|(?:${H}:){1,7}:(?:${H}(?::${H}){0,5})?|::${H}(?::${H}){0,6})(?![0-9A-Za-z:])`;

export const PATTERNS: Record<string, string> = {
  email: EMAIL,
  url: URL,
  ip: `${IPV4}|${IPV6}`,
  phone: PHONE,
  postcode: POSTCODE,
};

/** Kinds that look like personal data but are our own reserved fakes. */
export function isReservedFake(kind: string, text: string): boolean {
  switch (kind) {
    case 'email': return /@example\.(com|org|net)$/i.test(text);
    case 'phone': return /^07700 ?900\d{3}$/.test(text);
    case 'postcode': return /^ZZ/i.test(text);
    case 'ip': return /^(192\.0\.2\.|198\.51\.100\.|203\.0\.113\.|2001:db8:)/i.test(text);
    case 'url': return /^https?:\/\/([a-z0-9-]+\.)*example\.(com|org|net)(\/|$)/i.test(text);
  }
  return false;
}

type Faker = (rng: Prng, sip: SipHash, match: string) => string;

const FIRST = ['alex', 'sam', 'jo', 'chris', 'pat', 'robin', 'kim', 'lee', 'max', 'charlie'];
const FAKERS: Record<string, Faker> = {
  email: (rng, sip) => `${rng.pick(FIRST)}.${uniqueToken(sip.hi, sip.lo)}@example.com`,
  url: (_rng, sip) => `https://example.com/${uniqueToken(sip.hi, sip.lo)}`,
  phone: (rng) => `07700 900${String(rng.below(1000)).padStart(3, '0')}`,
  postcode: (rng) => `ZZ${rng.below(10)}${rng.below(10)} ${rng.below(10)}${'ABDEFGHJLNPQRSTUWXYZ'[rng.below(20)]}${'ABDEFGHJLNPQRSTUWXYZ'[rng.below(20)]}`,
  ip: (rng, _sip, match) =>
    match.includes(':')
      ? `2001:db8::${rng.below(0x10000).toString(16)}:${rng.below(0x10000).toString(16)}`
      : `${rng.pick(['192.0.2', '198.51.100', '203.0.113'])}.${1 + rng.below(254)}`,
};

/** Detector order matters: e-mails before URLs and phones, so a phone-like run inside an address is not cut. */
const ORDER = ['email', 'url', 'ip', 'phone', 'postcode'];

/**
 * Cheap tests that a text may hold a match at all: most free text holds none, and one pass of a
 * plain search is far cheaper than the detector's regular expression.
 */
const MAY_MATCH: Record<string, (text: string) => boolean> = {
  email: (t) => t.includes('@'),
  url: (t) => t.includes('://'),
  ip: (t) => /\d\.\d|[0-9A-Fa-f]:[0-9A-Fa-f:]/.test(t),
  phone: (t) => /\d\d\d/.test(t),
  postcode: (t) => /\d[A-Za-z][A-Za-z]/.test(t),
};

/** Builds the scrubber for a set of detector names: free text in, text with each match replaced. */
export function compileScrubber(names: string[], keys: KeyRing): (text: string) => string {
  const rng = new Prng();
  // one pass per detector, in ORDER: a replaced value is a reserved fake, which later passes skip
  const passes = ORDER.filter((k) => names.includes(k)).map((kind) => {
    const re = new RegExp(PATTERNS[kind]!, 'g');
    const sip = keys.sip(`scrub\0${kind}`);
    const make = FAKERS[kind]!;
    const may = MAY_MATCH[kind]!;
    const hashMatch = (buf: Buffer, end: number) => sip.hash(buf, 0, end);
    const replace = (match: string) => {
      if (isReservedFake(kind, match)) return match;
      withUtf8(match, hashMatch);
      rng.seed(sip.hi, sip.lo);
      return make(rng, sip, match);
    };
    return (text: string) => (may(text) ? text.replace(re, replace) : text);
  });
  return (text) => {
    let out = text;
    for (const pass of passes) out = pass(out);
    return out;
  };
}
