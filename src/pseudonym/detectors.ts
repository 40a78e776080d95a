/**
 * The one table of personal-data and secret detectors. `scrub` rules replace their matches by
 * deterministic fakes, `scan` counts them, the leak check extracts them from originals, and the
 * policy for what lies outside the rows (comments, DDL literals) runs them over string constants.
 * Adding a kind is one entry here.
 *
 * Fakes use reserved ranges so that they are recognisably fake: example.com/.org/.net (RFC 2606),
 * Ofcom's numbers for drama (07700 900xxx), documentation IP ranges (RFC 5737, RFC 3849), the
 * unassigned postcode area ZZ, card numbers starting 0 (no scheme issues them), the never-issued
 * National Insurance prefix ZZ.
 *
 * Every pattern is linear on hostile text: repetitions are bounded, and lookbehinds are one character.
 */
import { KeyRing, Prng, uniqueToken } from './keys.js';
import type { SipHash } from './siphash.js';
import { withUtf8 } from '../text/encoding.js';
import { anchoredExec, anchoredReplace, emailStart, type Anchor } from './anchored.js';

/** A match's replacement; `following`: the few characters after the match (a network's `/24`). */
type Faker = (rng: Prng, sip: SipHash, match: string, following: string) => string;

export interface Detector {
  kind: string;
  /** regular expression source; compiled with the `u` flag */
  pattern: string;
  /** a cheap test that a text may hold a match at all (most text holds none) */
  may: (text: string) => boolean;
  /** `may` is false for a text without a digit: one search for a digit rules out several kinds at once */
  digits?: true;
  /** ASCII characters one of which every match holds (none: a text without any holds no match) */
  holds?: string;
  /**
   * A part of every match, and where a match holding it may begin: scrub tries the pattern only there,
   * not at every place of the text (anchored.ts), and needs no `may` then.
   */
  anchor?: Anchor;
  /** a check the pattern cannot express (digit counts, Luhn) */
  valid?: (match: string) => boolean;
  /** our own fakes, which are not personal data */
  reserved: (match: string) => boolean;
  /** the replacement `scrub` writes; kinds without one are found but cannot be scrubbed */
  fake?: Faker;
  /** a match is low in entropy (a venue's public postcode can equal a resident's): the leak check grades it `possible` */
  lowEntropy?: boolean;
  /** a match in a DDL string constant or a role name stops the run under `literals: fail` */
  inDdl: boolean;
}

// local part: letters of any script, digits and . _ % + ' -, at most 256 characters (unbounded, every
// position of a long run started a scan to its end: 100,000 such characters before an `@` took 4.9 s);
// or a quoted local part ("john smith"@…)
const EMAIL = String.raw`(?:"[^"\\\r\n@]{1,64}"|[\p{L}\p{N}._%+'\-]{1,256})@[\p{L}\p{N}\-]{1,63}(?:\.[\p{L}\p{N}\-]{1,63}){0,10}\.\p{L}{2,24}`;
const URL = String.raw`https?://[^\s"'<>()\[\]{}]{1,2048}`;
// a run of digits with the separators people type (space, dot, dash, brackets), starting with +, 00 or 0;
// `validPhone` counts the digits. Never part of a longer run of letters, digits or dots (hex tokens,
// uuids, version numbers, decimals).
const PHONE_NOT_AFTER = String.raw`[\p{L}\p{N}_+.\-]`;
const PHONE = String.raw`(?<!${PHONE_NOT_AFTER})(?:\+|\(?0)[\d \t.\-()]{6,22}\d(?![\p{L}\p{N}_])`;
// UK postcodes, in either case (people type them lower case in search boxes), up to two spaces inside
const POSTCODE = String.raw`(?<![\p{L}\p{N}])(?:[Gg][Ii][Rr] {0,2}0[Aa][Aa]|[A-PR-UWYZa-pr-uwyz][A-HK-Ya-hk-y]?\d[A-Za-z\d]? {0,2}\d[ABD-HJLNP-UW-Zabd-hjlnp-uw-z]{2})(?![\p{L}\p{N}])`;
// every postcode ends in its inward code (9AA): a digit, two of these letters, then no letter or digit;
// the digit is at most 6 units into the match (outward code of 2 to 4, two spaces; GIR 0AA: 5)
const INWARD = String.raw`\d[ABD-HJLNP-UW-Zabd-hjlnp-uw-z]{2}(?![A-Za-z\d])`;
const INWARD_CODE = new RegExp(INWARD);
// octets with leading zeros too (192.168.001.010)
const OCTET = String.raw`(?:25[0-5]|2[0-4]\d|1\d\d|0?\d?\d)`;
const IPV4 = String.raw`(?<![\p{N}.])(?:${OCTET}\.){3}${OCTET}(?![\p{N}]|\.\d)`;
const H = '[0-9A-Fa-f]{1,4}';
// in every address, at most 3 units in: an octet's dot (9.9), a group's colon (f:f, f::), or a leading ::
// (an IPv6 address may begin with it: ::ffff, ::a:b, with no digit before a colon)
const IP_PART = /\d\.\d|[0-9A-Fa-f]:[0-9A-Fa-f:]|::[0-9A-Fa-f]/;
// full form, or compressed with `::` (group counts not enforced: a detector, not a validator)
const IPV6 = `(?<![0-9A-Za-z:])(?:(?:${H}:){7}${H}|(?:${H}:){1,7}:(?:${H}(?::${H}){0,5})?|::${H}(?::${H}){0,6})(?![0-9A-Za-z:])`;
// payment cards start 2–6 (Mastercard, Amex, Visa, Discover…) and stand apart from other digits and letters
const CARD = String.raw`(?<![\p{L}\p{N}_\-])[2-6](?:[ \-]?\d){12,18}(?![\p{L}\p{N}_\-])`;
// National Insurance numbers; prefixes never issued: D F I Q U V as either letter, O second, and BG GB NK KN TN NT ZZ
const NINO = String.raw`(?<![\p{L}\p{N}])(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![\p{L}\p{N}])`;
// credentials: PostgreSQL role password hashes, Django/bcrypt password hashes, passwords in connection
// strings and URLs, private keys, and tokens whose prefix says what they are
const SECRET = [
  String.raw`md5[0-9a-f]{32}(?![0-9a-f])`,
  String.raw`SCRAM-SHA-256\$\d{1,7}:[A-Za-z0-9+/=]{8,128}\$[A-Za-z0-9+/=]{16,128}:[A-Za-z0-9+/=]{16,128}`,
  String.raw`(?:pbkdf2_sha256|pbkdf2_sha1|argon2|bcrypt_sha256|bcrypt|scrypt|sha1|md5)\$[^\s'"$]{1,64}\$[^\s'"]{8,300}`,
  String.raw`\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}`,
  String.raw`-----BEGIN [A-Z ]{0,30}PRIVATE KEY-----`,
  String.raw`(?<![\p{L}\p{N}_])(?:[Pp]ass(?:word|wd)?|PASS(?:WORD|WD)?|pwd|PWD)\s{0,3}=\s{0,3}(?:'(?:[^'\\]|\\.){1,256}'|[^\s'";&]{1,256})`,
  String.raw`[a-z][a-z0-9+.\-]{1,20}://[^\s:/@'"]{1,64}:[^\s@/'"]{1,128}@`,
  String.raw`(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,255}|xox[abposr]-[A-Za-z0-9\-]{10,72}|[sr]k_live_[A-Za-z0-9]{16,99}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_\-]{35}|glpat-[A-Za-z0-9_\-]{20,64}|npm_[A-Za-z0-9]{36})(?![A-Za-z0-9_])`,
  String.raw`eyJ[A-Za-z0-9_\-]{10,2048}\.eyJ[A-Za-z0-9_\-]{10,4096}\.[A-Za-z0-9_\-]{10,1024}`,
].join('|');

// a street address: a house number, up to three capitalised words, and a street word (12 High Street,
// 3a Church Rd., 221B Baker Street); the words are what a fake keeps the shape of
const STREET_WORDS = 'Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Close|Drive|Dr|Way|Place|Pl|Court|Ct|Crescent|Cres|Terrace|Gardens|Gdns|Grove|Hill|Park|Square|Sq|Row|Mews|Walk|Green|Rise|View|Parade|Boulevard|Blvd|Wharf|Yard|Gate';
const ADDRESS = String.raw`(?<![\p{L}\p{N}])\d{1,4}[A-Za-z]?,?[ \t]{1,3}(?:[\p{Lu}][\p{Ll}'\u2019\-]{1,20}[ \t]{1,3}){1,3}(?:${STREET_WORDS})\.?(?![\p{L}\p{N}])`;
const FAKE_STREETS = ['Example Street', 'Sample Road', 'Placeholder Lane', 'Testing Avenue'];
const FAKE_ADDRESS = new RegExp(String.raw`^\d{1,4}[A-Za-z]?,?\s+(?:${FAKE_STREETS.join('|')})(?![\p{L}\p{N}])`, 'u');

/** The marker a scrubbed secret becomes; never a credential. */
export const SECRET_MARKER = 'anonymise-dump:redacted';

function luhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** International numbers have 8–15 digits (E.164); national ones start 0 then 1–9 and have 10 or 11. */
function validPhone(m: string): boolean {
  if (/[.\-]{2}|[ \t]{3}|\(\(|\)\)/.test(m)) return false;
  let digits = 0;
  for (let i = 0; i < m.length; i++) if (m.charCodeAt(i) >= 48 && m.charCodeAt(i) <= 57) digits++;
  if (m[0] === '+') return digits >= 8 && digits <= 15 && m[1] !== '0';
  const first = m.indexOf('0');
  if (m[first + 1] === '0') return digits >= 10 && digits <= 17 && m[first + 2] !== '0'; // 00 44 …: an international prefix
  return m[first + 1] !== undefined && m[first + 1]! >= '1' && m[first + 1]! <= '9' && digits >= 10 && digits <= 11;
}

const DIGITS = '0123456789';
const FIRST = ['alex', 'sam', 'jo', 'chris', 'pat', 'robin', 'kim', 'lee', 'max', 'charlie'];
const POSTCODE_LETTERS = 'ABDEFGHJLNPQRSTUWXYZ';
const digitsOf = (rng: Prng, n: number) => Array.from({ length: n }, () => rng.below(10)).join('');

/** In scrub order: e-mails before URLs and phones, so that a phone-like run inside an address is not cut. */
export const DETECTORS: readonly Detector[] = [
  {
    kind: 'email',
    holds: '@',
    pattern: EMAIL,
    may: (t) => t.includes('@'),
    anchor: { re: /@/g, start: emailStart },
    reserved: (m) => /@example\.(com|org|net)$/i.test(m),
    fake: (rng, sip) => `${rng.pick(FIRST)}.${uniqueToken(sip.hi, sip.lo)}@example.com`,
    inDdl: true,
  },
  {
    kind: 'secret',
    pattern: SECRET,
    // each alternative of SECRET starts with, or holds, one of these: a superset, much rarer than - or _
    may: (t) => /md5[0-9a-f]|SCRAM-|\$|-----BEGIN|(?:pass|Pass|PASS|pwd|PWD)[A-Za-z]{0,4}\s{0,3}=|:\/\/[^\s@]{0,200}@|gh[pousr]_|github_pat_|xox[abposr]-|[sr]k_live_|AKIA|AIza|glpat-|npm_|eyJ/.test(t),
    reserved: (m) => m.includes(SECRET_MARKER),
    fake: () => SECRET_MARKER,
    inDdl: true,
  },
  {
    kind: 'url',
    holds: ':',
    pattern: URL,
    may: (t) => t.includes('://'),
    reserved: (m) => /^https?:\/\/([a-z0-9-]+\.)*example\.(com|org|net)(\/|$)/i.test(m),
    fake: (_rng, sip) => `https://example.com/${uniqueToken(sip.hi, sip.lo)}`,
    inDdl: false, // a site's own links in defaults and views are not personal
  },
  {
    kind: 'ip',
    holds: '0123456789:',
    pattern: `${IPV4}|${IPV6}`,
    may: (t) => IP_PART.test(t),
    anchor: { re: new RegExp(IP_PART, 'g'), reach: 3 },
    // loopback and unspecified addresses are in every application's code; they identify nobody
    reserved: (m) => /^(192\.0\.2\.|198\.51\.100\.|203\.0\.113\.|2001:db8:)/i.test(m) || /^(0?127\.|0+\.0+\.0+\.0+$|::1?$)/.test(m),
    fake: (rng, _sip, match, following) => {
      const v6 = match.includes(':');
      const fake = v6 ? `2001:db8::${rng.below(0x10000).toString(16)}:${rng.below(0x10000).toString(16)}` : `${rng.pick(['192.0.2', '198.51.100', '203.0.113'])}.${1 + rng.below(254)}`;
      // a network (cidr, or an inet with a prefix) keeps its prefix length: host bits set would not restore
      const bits = /^\/(\d{1,3})(?!\d)/.exec(following)?.[1];
      return bits === undefined ? fake : networkOf(fake, Number(bits), v6);
    },
    inDdl: true,
  },
  {
    kind: 'card',
    holds: DIGITS,
    digits: true,
    pattern: CARD,
    // four of its digits, each after at most one separator (four in a row were asked for before: a
    // number written 4 1 1 1 … has none)
    may: (t) => /\d[ \-]?\d[ \-]?\d[ \-]?\d/.test(t),
    valid: (m) => luhn(m.replace(/\D/g, '')),
    reserved: () => false,
    fake: (rng) => `0000 0000 0000 ${digitsOf(rng, 4)}`,
    inDdl: true,
  },
  {
    kind: 'phone',
    holds: DIGITS,
    digits: true,
    pattern: PHONE,
    // a match begins with +, 0 or (0, and seven of its characters follow (three digits close together
    // were asked for before: a number written 01 - 23 - 45 - 67 - 89 has none)
    may: (t) => /[+0][\d \t.\-()]{6}/.test(t),
    anchor: { re: /[+0]/g, reach: 1 },
    valid: validPhone,
    reserved: (m) => /^07700 ?900\d{3}$/.test(m),
    // (drawn as below(1000): the same pseudonyms as earlier versions)
    fake: (rng) => `07700 900${String(rng.below(1000)).padStart(3, '0')}`,
    lowEntropy: true,
    inDdl: true,
  },
  {
    kind: 'postcode',
    holds: DIGITS,
    digits: true,
    pattern: POSTCODE,
    may: (t) => INWARD_CODE.test(t),
    anchor: { re: new RegExp(INWARD, 'g'), reach: 6 },
    // a lower-case hex colour (ff66ff) has a postcode's shape
    valid: (m) => !/^[0-9a-f]{6}$/.test(m),
    reserved: (m) => /^ZZ/i.test(m),
    fake: (rng) => `ZZ${rng.below(10)}${rng.below(10)} ${rng.below(10)}${POSTCODE_LETTERS[rng.below(20)]}${POSTCODE_LETTERS[rng.below(20)]}`,
    lowEntropy: true,
    inDdl: true,
  },
  {
    kind: 'address',
    holds: DIGITS,
    digits: true,
    pattern: ADDRESS,
    may: (t) => /\d[A-Za-z]?,?\s+\p{Lu}/u.test(t),
    // ours: a house number and one of our streets, whatever locality the text kept after it
    reserved: (m) => FAKE_ADDRESS.test(m),
    fake: (rng) => `${1 + rng.below(200)} ${rng.pick(FAKE_STREETS)}`,
    inDdl: false, // a council's own offices are in its definitions
  },
  {
    kind: 'nino',
    holds: DIGITS,
    digits: true,
    pattern: NINO,
    may: (t) => /\d\d/.test(t),
    reserved: () => false,
    fake: (rng) => `ZZ ${digitsOf(rng, 2)} ${digitsOf(rng, 2)} ${digitsOf(rng, 2)} ${'ABCD'[rng.below(4)]}`,
    inDdl: true,
  },
];

/**
 * Our fake person names carry a mark: the sum of their words' marks (FNV-1a of each lower-cased word,
 * mod 16) is 0. Fakes are drawn only among marked names, so `scan` can tell them from real ones without
 * a key; the price is that a real name which happens to be marked (one in 16) is not counted. Being a
 * sum, a full name is drawn in one step: any first name, then a last name from the bucket that completes it.
 */
export function nameMark(word: string): number {
  let h = 0x811c9dc5;
  const t = word.toLowerCase();
  for (let i = 0; i < t.length; i++) h = Math.imul(h ^ t.charCodeAt(i), 16777619);
  return (h >>> 0) & 15;
}

export function isMarkedName(name: string): boolean {
  let sum = 0;
  for (const w of name.split(/\s+/)) if (w) sum += nameMark(w);
  return (sum & 15) === 0;
}

/**
 * Whether a phone match may start at `text[i]`, seen from the character before it alone (undefined at
 * the start): a match starts at +, ( or 0, after no letter, digit, _, +, . or -.
 */
export function phoneMayStartAfter(before: string | undefined): boolean {
  return before === undefined || !PHONE_START_BLOCKED.test(before);
}
const PHONE_START_BLOCKED = new RegExp(PHONE_NOT_AFTER, 'u');
/** the characters a phone match starts with */
export const PHONE_FIRST = '+(0';

/** Whether `text` is a fake phone number or postcode the detectors recognise as ours (or would not flag at all). */
export function passesAsFake(kind: 'phone' | 'postcode', text: string): boolean {
  // a phone match starts at + or 0: most national formats of other countries never hold either
  if (kind === 'phone' && !/[+0]/.test(text)) return true;
  // as matches(text, [kind]) finding none, without a generator per fake drawn
  const d = detector(kind);
  if (!d.may(text)) return true;
  const re = compiled(kind, 'gu');
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if ((d.valid?.(m[0]) ?? true) && !d.reserved(m[0])) return false;
    if (m[0].length === 0) re.lastIndex++;
  }
  return true;
}

const BY_KIND = new Map(DETECTORS.map((d) => [d.kind, d]));
export const DETECTOR_KINDS = DETECTORS.map((d) => d.kind);
/** Kinds a `scrub` rule may name. */
export const DETECTOR_NAMES = DETECTORS.filter((d) => d.fake).map((d) => d.kind);

export function detector(kind: string): Detector {
  const d = BY_KIND.get(kind);
  if (!d) throw new Error(`no detector ${kind}`);
  return d;
}

/** Whether `text` (a whole value) is a match of `kind`. */
export function isWhole(kind: string, text: string): boolean {
  const d = detector(kind);
  let re = wholeCache.get(kind);
  if (!re) wholeCache.set(kind, (re = new RegExp(`^(?:${d.pattern})$`, 'u')));
  return re.test(text) && (d.valid?.(text) ?? true);
}
/** Anchored patterns, compiled once (the leak check asks of every original value). */
const wholeCache = new Map<string, RegExp>();

/** Kinds that look like personal data but are our own reserved fakes. */
export function isReservedFake(kind: string, text: string): boolean {
  return BY_KIND.get(kind)?.reserved(text) ?? false;
}

/** Every match of the given kinds in `text` that is valid and not one of our fakes. */
export function* matches(text: string, kinds: readonly string[] = DETECTOR_KINDS): Generator<{ kind: string; text: string; index: number }> {
  for (const kind of kinds) {
    const d = detector(kind);
    if (d.anchor) {
      // the pattern tried only near its anchors (anchored.ts); no match is empty (each holds its anchor)
      const sticky = compiled(kind, 'uy');
      for (let m = anchoredExec(text, sticky, d.anchor, 0); m !== null; m = anchoredExec(text, sticky, d.anchor, m.index + m[0].length)) {
        if ((d.valid?.(m[0]) ?? true) && !d.reserved(m[0])) yield { kind, text: m[0], index: m.index };
      }
      continue;
    }
    if (!d.may(text)) continue;
    const re = compiled(kind, 'gu');
    re.lastIndex = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      if ((d.valid?.(m[0]) ?? true) && !d.reserved(m[0])) yield { kind, text: m[0], index: m.index };
      if (m[0].length === 0) re.lastIndex++;
    }
  }
}

const cache = new Map<string, RegExp>();
/** A kind's pattern, global (gu) or sticky (uy), compiled once. */
function compiled(kind: string, flags: 'gu' | 'uy'): RegExp {
  let re = cache.get(kind + flags);
  if (!re) cache.set(kind + flags, (re = new RegExp(detector(kind).pattern, flags)));
  return re;
}

const DIGIT = /\d/;

/**
 * A test over a text's UTF-8 bytes, true only when a scrubber of `names` surely leaves the text as it
 * is and the text holds no control character (which a writer may escape): its bytes may then be written
 * as they are. Each named detector's matches hold one of a few ASCII characters (`holds`), and the text
 * holds none of them. Null when a named detector has no such characters. One loop over the bytes
 * instead of decoding the text and a search per detector (most free text holds no digit, `@` or `:`).
 */
export function scrubLeaves(names: readonly string[]): ((buf: Uint8Array, start: number, end: number) => boolean) | null {
  const wanted = new Uint8Array(256);
  wanted.fill(1, 0, 0x20);
  for (const name of names) {
    const holds = BY_KIND.get(name)?.holds;
    if (holds === undefined) return null;
    for (let i = 0; i < holds.length; i++) wanted[holds.charCodeAt(i)] = 1;
  }
  return (buf, start, end) => {
    for (let i = start; i < end; i++) if (wanted[buf[i]!] === 1) return false;
    return true;
  };
}

/** Builds the scrubber for a set of detector names: free text in, text with each match replaced. */
export function compileScrubber(names: readonly string[], keys: KeyRing): (text: string) => string {
  const rng = new Prng();
  // one pass per detector, in table order: a replaced value is a reserved fake, which later passes skip
  const passes = DETECTORS.filter((d) => names.includes(d.kind) && d.fake).map((d) => {
    const re = new RegExp(d.pattern, 'gu');
    const sip = keys.sip(`scrub\0${d.kind}`);
    const make = d.fake!;
    const hashMatch = (buf: Buffer, end: number) => sip.hash(buf, 0, end);
    const replace = (match: string, ...rest: unknown[]) => {
      if (d.reserved(match) || (d.valid && !d.valid(match))) return match;
      withUtf8(match, hashMatch);
      rng.seed(sip.hi, sip.lo);
      // String#replace passes the offset and the whole text last (after any groups)
      const at = (rest[rest.length - 2] as number) + match.length;
      return make(rng, sip, match, (rest[rest.length - 1] as string).slice(at, at + 4));
    };
    const anchor = d.anchor;
    if (anchor) {
      const sticky = new RegExp(d.pattern, 'uy');
      return { digits: d.digits === true, run: (text: string) => anchoredReplace(text, sticky, anchor, replace) };
    }
    return { digits: d.digits === true, run: (text: string) => (d.may(text) ? text.replace(re, replace) : text) };
  });
  return (text) => {
    let out = text;
    // most free text holds no digit, which rules out phones, postcodes, cards… without their own searches
    let digitsIn: string | null = null;
    let digits = false;
    for (const pass of passes) {
      if (pass.digits) {
        if (digitsIn !== out) {
          digitsIn = out;
          digits = DIGIT.test(out);
        }
        if (!digits) continue;
      }
      out = pass.run(out);
    }
    return out;
  };
}

/**
 * A fake address as the network of `bits` bits it belongs to: host bits cleared; a prefix shorter than
 * the documentation ranges' (/24, 2001:db8::/32) gives the unspecified network, which names nobody.
 */
function networkOf(fake: string, bits: number, v6: boolean): string {
  if (v6) return bits >= 128 ? fake : bits >= 32 ? '2001:db8::' : '::';
  if (bits >= 32) return fake;
  if (bits < 24) return '0.0.0.0';
  const [a, b, c, d] = fake.split('.').map(Number) as [number, number, number, number];
  return `${a}.${b}.${c}.${d & (0xff << (32 - bits)) & 0xff}`;
}
