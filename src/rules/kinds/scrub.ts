import type { ColumnRule } from '../../contract/rules-model.js';
import { shown } from '../syntax.js';
import { DETECTOR_NAMES, compileScrubber } from '../../pseudonym/detectors.js';
import { compileNameScrubber } from '../../pseudonym/names.js';
import { fakerOf, type RuleKind } from './kind.js';

type Scrub = Extract<ColumnRule, { kind: 'scrub' }>;

/** What `scrub` can find: the detector table's kinds, and person names (names.ts, from faker's lists). */
const SCRUB_KINDS = [...DETECTOR_NAMES, 'name'];

export const scrub: RuleKind<Scrub> = {
  key: 'scrub',
  doc: `free text kept, each match of the named detectors (${SCRUB_KINDS.join(', ')}) replaced by a deterministic fake of its kind`,
  options: ['nulls'],
  parse: (node, api) => {
    const items = api.list(node);
    if (!items || items.length === 0) return api.fail(node, `scrub must be a list of detectors (${SCRUB_KINDS.join(', ')})`);
    const detectors = items.map((d) => {
      const name = api.string(d, 'detector');
      if (!SCRUB_KINDS.includes(name)) api.fail(d, `unknown scrub detector ${shown(name)} (expected ${SCRUB_KINDS.join(', ')})`);
      return name;
    });
    // names are found with faker's name lists: have them loaded, as a fake rule would
    if (detectors.includes('name'))
      for (const locale of ['en', 'en_GB']) api.needsFaker({ method: 'person.lastName', unique: false, locale }, api.where, api.where);
    return { kind: 'scrub', detectors, nulls: api.nulls, where: api.where };
  },
  compile: (rule, env) => {
    const fn = compileScrubber(rule.detectors, env.keys);
    const faker = fakerOf(env.data);
    if (!rule.detectors.includes('name') || !faker) return { kind: 'text', fn: (s) => fn(s), nulls: rule.nulls };
    const lists = ['en', 'en_GB'].map((l) => faker.personNames(l));
    const names = compileNameScrubber({ first: lists.flatMap((l) => l.first), last: lists.flatMap((l) => l.last) }, env.keys);
    return { kind: 'text', fn: (s) => names(fn(s)), nulls: rule.nulls };
  },
  fits: (_rule, cls) => cls === 'text' || cls === 'array' || cls === 'json' || cls === 'other',
  length: () => null, // fakes may be longer than the matches they replace
  unique: () => false,
  leaks: 'matches',
};
