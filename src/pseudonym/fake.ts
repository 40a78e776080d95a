/**
 * Deterministic fakes. A value's fake is a function of (rule key, original value) only: SipHash of the
 * value seeds a small generator that picks from @faker-js/faker's locale word lists. Common methods
 * are implemented here directly over those lists (~1 µs); any other faker method runs on a Faker
 * instance whose randomizer is reseeded from the same hash (slower, ~5–15 µs, but just as stable).
 *
 * `unique: true` appends 60 bits of the keyed hash, so distinct inputs give distinct outputs unless
 * two 64-bit SipHash values collide in their 60 kept bits (about n²/2⁶¹: 4·10⁻⁷ for a million values).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadModule } from '../load-module.js';
import type { Faker, LocaleDefinition } from '@faker-js/faker';
import { KeyRing, Prng, tokenInto, uniqueToken } from './keys.js';
import { FakeMemo } from './memo.js';
import { byteGenerators, listsArePlain, patternInto, type ByteGen, type FakeLists } from './fake-bytes.js';
import { ByteDraft, type RangeText } from '../text/byte-draft.js';
import { isMarkedName, nameMark, passesAsFake, PHONE_FIRST, phoneMayStartAfter } from './detectors.js';

export interface FakeSpec {
  method: string;
  unique: boolean;
  locale: string;
}

/** The fake for the UTF-8 bytes `value[start..end)` (default: all of it); `draft` writes it as bytes. */
export type FakeFn = RangeText;

type Gen = (rng: Prng, token: string | null) => string;

/** faker modules whose methods a rule may name; everything else (helpers, internals) is refused. */
const MODULES = new Set([
  'airline', 'animal', 'book', 'color', 'commerce', 'company', 'database', 'datatype', 'date', 'finance',
  'food', 'git', 'hacker', 'image', 'internet', 'location', 'lorem', 'music', 'number', 'person', 'phone',
  'science', 'string', 'system', 'vehicle', 'word',
]);

const RESERVED_DOMAINS = ['example.com', 'example.org', 'example.net'];
const FIXED_REF_DATE = new Date('2025-01-01T00:00:00Z');

function lookup<T>(chain: LocaleDefinition[], get: (d: LocaleDefinition) => T | undefined): T | undefined {
  for (const d of chain) {
    const v = get(d);
    if (v !== undefined && v !== null) return v;
  }
  return undefined;
}

function marked(names: string[]): string[] {
  const m = names.filter(isMarkedName);
  return m.length > 0 ? m : names;
}

function nameList(chain: LocaleDefinition[], key: 'first_name' | 'last_name' | 'middle_name'): string[] {
  const entry = lookup(chain, (d) => d.person?.[key]) as
    | { generic?: string[]; female?: string[]; male?: string[] }
    | undefined;
  const list = entry?.generic ?? [...(entry?.female ?? []), ...(entry?.male ?? [])];
  return list.length > 0 ? list : ['Alex'];
}

/** ASCII letters and digits of a name, lower case: "Zoë O'Brien" → "zoeobrien". */
function asciiSlug(s: string): string {
  return s.normalize('NFKD').replace(/[^A-Za-z0-9]/g, '').toLowerCase() || 'user';
}

/**
 * A faker pattern (`01### ######`) made into a function of the generator: each wildcard draws, in the
 * pattern's order, as faker's own fill does (fake-bytes.ts' patternInto, over the pattern's bytes).
 */
export function patternFiller(pattern: string): (rng: Prng) => string {
  const bytes = Buffer.from(pattern, 'utf8');
  const d = new ByteDraft();
  return (rng) => {
    d.reset();
    patternInto(bytes, rng, d);
    return d.text();
  };
}

/**
 * Whether text drawn from `pattern` may hold a phone number the detectors find: only where a character
 * that may be +, ( or 0 follows one that may be neither a letter nor a digit (a wildcard draws one, or
 * a literal the detector's lookbehind refuses). Most of faker's formats (en: 555-123-4567) have no such
 * place, and their numbers need no search.
 */
export function patternMayHoldPhone(pattern: string): boolean {
  const drawn = (ch: string | undefined) => ch !== undefined && '#!?*'.includes(ch);
  const mayBeZero = (ch: string | undefined) => ch === '0' || ch === '#' || ch === '*';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    // a ( starts one only before a 0
    const mayStart = ch === '(' ? mayBeZero(pattern[i + 1]) : PHONE_FIRST.includes(ch) || mayBeZero(ch);
    if (mayStart && !drawn(pattern[i - 1]) && phoneMayStartAfter(pattern[i - 1])) return true;
  }
  return false;
}

function hex(rng: Prng, n: number): string {
  let s = '';
  while (s.length < n) s += rng.nextU32().toString(16).padStart(8, '0');
  return s.slice(0, n);
}

function appendToken(value: string, token: string | null, sep = '-'): string {
  return token === null ? value : `${value}${sep}${token}`;
}

/** The longest text each fast method writes, without and with its `unique` token (for `check`). */
type Bounds = Record<string, [plain: number, unique: number]>;

function fastBounds(chain: LocaleDefinition[]): Bounds {
  const max = (xs: string[]) => Math.max(0, ...xs.map((x) => x.length));
  const first = nameList(chain, 'first_name');
  const last = nameList(chain, 'last_name');
  const f = max(marked(first));
  const l = max(marked(last));
  const m = max(marked(nameList(chain, 'middle_name')));
  const sf = max(first.map(asciiSlug));
  const sl = max(last.map(asciiSlug));
  const domain = max(RESERVED_DOMAINS);
  const token = 12;
  const phoneFormats = (lookup(chain, (d) => (d.phone_number?.format as { human?: string[] } | undefined)?.human) ??
    lookup(chain, (d) => (d.phone_number?.format as { national?: string[] } | undefined)?.national) ?? ['###-###-####']) as string[];
  const postcodes = (lookup(chain, (d) => d.location?.postcode) as string[] | string | undefined) ?? '#####';
  const phone = Math.max(12, max(phoneFormats));
  const zip = Math.max(8, max(Array.isArray(postcodes) ? postcodes : [postcodes]));
  const full = Math.max(max(first) + 1 + max(last), f + 1 + l);
  return {
    'person.firstName': [f, f + 1 + token],
    'person.lastName': [l, l + 1 + token],
    'person.middleName': [m, m + 1 + token],
    'person.fullName': [full, full + 1 + token],
    'internet.email': [sf + 1 + sl + 2 + 1 + domain, sf + 1 + sl + 1 + token + 1 + domain],
    'internet.exampleEmail': [sf + 1 + sl + 2 + 1 + domain, sf + 1 + sl + 1 + token + 1 + domain],
    'internet.username': [sf + 1 + sl + 2, sf + 1 + sl + 1 + token],
    'internet.userName': [sf + 1 + sl + 2, sf + 1 + sl + 1 + token],
    'internet.ipv4': [15, 15 + 1 + token],
    'internet.ipv6': [39, 39 + 1 + token],
    'internet.ip': [39, 39 + 1 + token],
    'internet.url': [8 + domain + 1 + token, 8 + domain + 1 + token],
    'internet.domainName': [token + 1 + domain, token + 1 + domain],
    'phone.number': [phone, phone + 2 + token],
    'location.zipCode': [zip, zip + 1 + token],
    'string.uuid': [36, 36],
  };
}

/** The longest value a fake can be, or null when faker's own method decides (not bounded here). */
export function maxFakeLength(spec: FakeSpec): number | null {
  const kit = kitFor(spec.locale);
  const b = kit?.bounds[spec.method];
  return b ? b[spec.unique ? 1 : 0] : null;
}

function fastGenerators(chain: LocaleDefinition[]): { fast: Record<string, Gen>; bytes: Record<string, ByteGen>; plain: boolean } {
  const first = nameList(chain, 'first_name');
  const last = nameList(chain, 'last_name');
  const middle = nameList(chain, 'middle_name');
  const phoneFormats =
    lookup(chain, (d) => (d.phone_number?.format as { human?: string[] } | undefined)?.human) ??
    lookup(chain, (d) => (d.phone_number?.format as { national?: string[] } | undefined)?.national) ?? [
      '###-###-####',
    ];
  const postcodes = (lookup(chain, (d) => d.location?.postcode) as string[] | string | undefined) ?? '#####';
  const postcodeList = Array.isArray(postcodes) ? postcodes : [postcodes];
  // fake names are drawn among marked ones only, so that scan knows them for ours (detectors.ts)
  const lastByMark: string[][] = Array.from({ length: 16 }, () => []);
  for (const l of last) lastByMark[nameMark(l)]!.push(l);
  // a fake phone number or postcode the detectors would take for a real one is drawn from the reserved
  // ranges instead (Ofcom's drama numbers, the unused area ZZ)
  const postcodeFills = postcodeList.map(patternFiller);
  const postcode = (rng: Prng) => {
    const p = rng.pick(postcodeFills)(rng);
    return passesAsFake('postcode', p) ? p : `ZZ${rng.below(10)}${rng.below(10)} ${rng.below(10)}${'ABDEFGHJLNPQRSTUWXYZ'[rng.below(20)]}${'ABDEFGHJLNPQRSTUWXYZ'[rng.below(20)]}`;
  };
  // slugs computed once: NFKD normalisation per value was a visible cost
  const lists: FakeLists = {
    first,
    markedFirst: marked(first),
    markedLast: marked(last),
    markedMiddle: marked(middle),
    lastByMark,
    firstMarks: first.map(nameMark),
    firstSlugs: first.map(asciiSlug),
    lastSlugs: last.map(asciiSlug),
    domains: RESERVED_DOMAINS,
    // (one entry per format, in the list's order: a pick draws as a pick of the format would)
    phoneFormats: phoneFormats.map((pattern) => ({ pattern, searched: patternMayHoldPhone(pattern) })),
  };
  // documentation ranges (RFC 5737, RFC 3849): recognisably fake, never a real person's address
  const ipv4: Gen = (rng, token) => appendToken(`${rng.pick(['192.0.2', '198.51.100', '203.0.113'])}.${1 + rng.below(254)}`, token);
  const ipv6: Gen = (rng, token) => {
    const groups: string[] = ['2001', 'db8'];
    for (let i = 0; i < 6; i++) groups.push(rng.below(0x10000).toString(16));
    return appendToken(groups.join(':'), token);
  };
  const fast: Record<string, Gen> = {
    'internet.ipv4': ipv4,
    'internet.ipv6': ipv6,
    'internet.ip': (rng, token) => (rng.below(5) === 0 ? ipv6(rng, token) : ipv4(rng, token)),
    'internet.url': (rng, token) => `https://${rng.pick(RESERVED_DOMAINS)}/${token ?? hex(rng, 8)}`,
    'internet.domainName': (rng, token) => `${token ?? hex(rng, 8)}.${rng.pick(RESERVED_DOMAINS)}`,
    'location.zipCode': (rng, token) => appendToken(postcode(rng), token, ' '),
    'string.uuid': (rng) => {
      const h = hex(rng, 32);
      const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
    },
  };
  return { fast, bytes: byteGenerators(lists), plain: listsArePlain(lists) };
}

/** The randomizer faker calls for every random choice; we point it at the value's generator. */
class SeededRandomizer {
  rng = new Prng();
  // arrow functions: faker calls these detached from the object
  next = (): number => this.rng.next();
  seed = (): void => {
    // faker.seed() is never called by us; a seed comes from the value's hash instead
  };
}

interface LocaleKit {
  definitions: LocaleDefinition;
  fast: Record<string, Gen>;
  /** the methods written as bytes (fake-bytes.ts), and whether their bytes need no escape */
  bytes: Record<string, ByteGen>;
  plain: boolean;
  bounds: Bounds;
  faker: Faker;
  randomizer: SeededRandomizer;
}
const kits = new Map<string, LocaleKit>();

function localeExists(locale: string): boolean {
  if (!/^[a-z]{2,3}(_[A-Za-z]+)*$/.test(locale)) return false;
  try {
    // resolved as require would: import.meta.resolve has no counterpart in the one-file build (scripts/bundle.mjs)
    return existsSync(createRequire(import.meta.url).resolve(`@faker-js/faker/locale/${locale}`));
  } catch {
    return false;
  }
}

/**
 * Loads faker for the given locales. Each locale is imported on its own (faker's entry point for one
 * locale): the package's main entry loads all ~70 locales, ~25 MB more memory for nothing.
 */
export async function loadLocales(locales: Iterable<string>): Promise<void> {
  for (const locale of locales) {
    if (kits.has(locale) || !localeExists(locale)) continue;
    const mod = await loadModule<{ faker: Faker }>(`@faker-js/faker/locale/${locale}`);
    // the locale's faker merges its data with its fallbacks (en, base); build our own on that data
    const FakerClass = mod.faker.constructor as new (o: { locale: LocaleDefinition; randomizer: SeededRandomizer }) => Faker;
    const randomizer = new SeededRandomizer();
    const faker = new FakerClass({ locale: mod.faker.rawDefinitions as LocaleDefinition, randomizer });
    faker.setDefaultRefDate(FIXED_REF_DATE);
    const definitions = mod.faker.rawDefinitions as LocaleDefinition;
    kits.set(locale, { definitions, ...fastGenerators([definitions]), bounds: fastBounds([definitions]), faker, randomizer });
  }
}

/** faker's first and last names for a loaded locale (for the `scan` name detector). */
export function personNames(locale: string): { first: string[]; last: string[] } {
  const kit = kits.get(locale);
  if (!kit) throw new Error(`faker locale ${locale} is not loaded`);
  const first = new Set<string>();
  const all = (key: 'first_name' | 'middle_name' | 'last_name') => {
    const e = kit.definitions.person?.[key] as { generic?: string[]; female?: string[]; male?: string[] } | undefined;
    return [...(e?.generic ?? []), ...(e?.female ?? []), ...(e?.male ?? [])];
  };
  for (const n of [...all('first_name'), ...all('middle_name')]) first.add(n);
  return { first: [...first], last: [...new Set(all('last_name'))] };
}

function kitFor(locale: string): LocaleKit | undefined {
  return kits.get(locale);
}

/**
 * Returns null when `method` names a faker method a rule may use, else the reason it may not.
 * The spec's locale must have been loaded with loadLocales.
 */
export function checkFakeSpec(spec: FakeSpec): string | null {
  const kit = kitFor(spec.locale);
  if (!kit) return `unknown faker locale ${spec.locale}`;
  const m = /^([a-z]+)\.([a-z][A-Za-z0-9]*)$/.exec(spec.method);
  if (!m || !MODULES.has(m[1]!)) return `unknown faker method ${spec.method}`;
  if (kit.fast[spec.method] || kit.bytes[spec.method]) return null;
  const mod = (kit.faker as unknown as Record<string, object>)[m[1]!]!;
  // a method of the module's own classes (faker's date module inherits some), never Object's
  let found = false;
  for (let p = Object.getPrototypeOf(mod); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    if (Object.prototype.hasOwnProperty.call(p, m[2]!) && typeof (p as Record<string, unknown>)[m[2]!] === 'function') found = true;
  }
  if (!found || m[2] === 'constructor') return `unknown faker method ${spec.method}`;
  try {
    kit.randomizer.rng.seed(0x12345678, 0x9abcdef0);
    const v = (mod as Record<string, () => unknown>)[m[2]!]!();
    if (v === undefined || v === null || (typeof v === 'object' && !(v instanceof Date))) return `faker method ${spec.method} does not return text`;
  } catch {
    return `faker method ${spec.method} needs arguments, which rules cannot give`;
  }
  return null;
}

function stringify(v: unknown): string {
  if (v instanceof Date) return v.toISOString();
  return String(v);
}

/** Whether `s` is the UTF-8 text `value[start..end)`, compared byte by byte while `s` is ASCII (no decoding). */
export function isOriginal(s: string, value: Buffer, start: number, end: number): boolean {
  const n = end - start;
  // a UTF-16 unit is 1 to 3 bytes: most fakes' lengths already rule it out
  if (s.length > n || s.length * 3 < n) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return Buffer.byteLength(s) === n && value.toString('utf8', start, end) === s;
    // an ASCII prefix equal so far: a different byte here, or none, is a different text
    if (i >= n || value[start + i] !== c) return false;
  }
  return s.length === n;
}

export function compileFake(spec: FakeSpec, keys: KeyRing): FakeFn {
  const problem = checkFakeSpec(spec);
  if (problem) throw new Error(problem);
  const kit = kitFor(spec.locale)!;
  const sip = keys.sip(`fake\0${spec.method}\0${spec.locale}\0${spec.unique ? 'unique' : ''}`);
  const rng = new Prng();
  const fast = kit.fast[spec.method];
  // each spec's fakes through a table of the values met lately (memo.ts): repeated names cost a lookup
  if (fast) {
    return new FakeMemo((value, start = 0, end = value.length) => {
      sip.hash(value, start, end);
      rng.seed(sip.hi, sip.lo);
      const token = spec.unique ? uniqueToken(sip.hi, sip.lo) : null;
      let out = fast(rng, token);
      // a fake that happens to equal its original would keep it: draw on (the same original draws the
      // same sequence, so this stays deterministic)
      for (let tries = 0; tries < 8 && isOriginal(out, value, start, end); tries++) out = fast(rng, token);
      return out;
    }).get;
  }
  const gen = kit.bytes[spec.method];
  if (gen) {
    const token = spec.unique ? new Uint8Array(12) : null;
    // as above, written as bytes: the text is those bytes read once, flat
    const into = (d: ByteDraft, value: Uint8Array, start: number, end: number) => {
      sip.hash(value, start, end);
      rng.seed(sip.hi, sip.lo);
      if (token) tokenInto(token, sip.hi, sip.lo);
      d.reset();
      gen(rng, token, d);
      for (let tries = 0; tries < 8 && d.equals(value, start, end); tries++) {
        d.reset();
        gen(rng, token, d);
      }
    };
    const d = new ByteDraft();
    return new FakeMemo((value, start = 0, end = value.length) => {
      into(d, value, start, end);
      return d.text();
    }, { into, plain: kit.plain }).get;
  }
  const [modName, fnName] = spec.method.split('.') as [string, string];
  const mod = (kit.faker as unknown as Record<string, Record<string, () => unknown>>)[modName]!;
  return new FakeMemo((value, start = 0, end = value.length) => {
    sip.hash(value, start, end);
    kit.randomizer.rng.seed(sip.hi, sip.lo);
    const out = stringify(mod[fnName]!());
    return spec.unique ? appendToken(out, uniqueToken(sip.hi, sip.lo)) : out;
  }).get;
}
