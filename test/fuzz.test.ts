/**
 * Fuzzing the lexer, codecs and rewriter: random dumps from grammar pieces and byte mutations of them.
 * Properties: no exception but our positioned errors, no hang, the same output however the input is
 * cut, and — for dumps as generated — no original value of a rewritten column in the output.
 * `npm run fuzz` runs a million cases (FUZZ_CASES); the test suite a few thousand.
 */
import { describe, expect, it } from 'vitest';
import { compileRules, readRules, rewriteBuffer } from '../src/engine/run.js';
import type { CompiledRules } from '../src/rules/rule-compiler.js';
import { AnonymiseError } from '../src/errors.js';
import { Rng, chunks, makeDump, makeSchema, mutate, rulesYaml, type FuzzTable } from './support/fuzz-gen.js';

const CASES = Number(process.env.FUZZ_CASES ?? 3000);
const SEED = Number(process.env.FUZZ_SEED ?? 20261123);
const SCHEMAS = 24;
/** replaying a failure: generate every case (the generator's state depends on it) but check from here */
const FROM = Number(process.env.FUZZ_FROM ?? 0);

function run(input: Buffer | Buffer[], rules: CompiledRules): { out?: Buffer; error?: AnonymiseError } {
  try {
    return { out: rewriteBuffer(input, { rules }).output };
  } catch (e) {
    if (e instanceof AnonymiseError) return { error: e };
    throw e;
  }
}

function firstDifference(a: Buffer, b: Buffer | undefined): number {
  let d = 0;
  while (b && d < a.length && a[d] === b[d]) d++;
  return d;
}

describe('fuzz', () => {
  it(`${CASES} cases (seed ${SEED})`, { timeout: 0 }, async () => {
    const rng = new Rng(SEED);
    const schemas: { tables: FuzzTable[]; rules: CompiledRules }[] = [];
    for (let i = 0; i < SCHEMAS; i++) {
      const tables = makeSchema(rng);
      schemas.push({ tables, rules: compileRules(await readRules({ text: [{ name: 'fuzz.yaml', yaml: rulesYaml(tables) }] }), 'fuzz') });
    }
    const started = Date.now();
    let errors = 0;
    for (let i = 0; i < CASES; i++) {
      const s = schemas[rng.int(SCHEMAS)]!;
      const { dump, marks } = makeDump(rng, s.tables);
      const mutated = rng.chance(0.5);
      const input = mutated ? mutate(rng, dump) : dump;
      if (i < FROM) {
        if (rng.chance(0.2)) chunks(rng, input);
        continue;
      }
      const t0 = Date.now();
      let whole: ReturnType<typeof run>;
      try {
        whole = run(input, s.rules);
      } catch (e) {
        throw new Error(`case ${i}: uncaught ${(e as Error).stack}\ninput: ${JSON.stringify(input.toString('latin1'))}`);
      }
      if (Date.now() - t0 > 2000) throw new Error(`case ${i}: took ${Date.now() - t0} ms`);
      if (whole.error) {
        errors++;
        if (!mutated) throw new Error(`case ${i}: a generated dump failed: ${whole.error.message}\ninput: ${JSON.stringify(input.toString('latin1'))}`);
        expect(whole.error.message).not.toMatch(/SECRET/);
      } else if (!mutated) {
        const text = whole.out!.toString('latin1');
        for (const m of marks) if (text.includes(m)) throw new Error(`case ${i}: ${m} leaked\ninput: ${JSON.stringify(input.toString('latin1'))}`);
      }
      // cut anywhere, the same result
      if (rng.chance(0.2)) {
        const split = run(chunks(rng, input), s.rules);
        if (whole.out) {
          if (!split.out?.equals(whole.out)) {
            const d = firstDifference(whole.out, split.out);
            throw new Error(
              `case ${i}: output depends on chunking (${split.error?.message ?? `differs at byte ${d}`})\ninput: ${JSON.stringify(input.toString('latin1'))}\nwhole: ${JSON.stringify(whole.out.subarray(Math.max(0, d - 100), d + 100).toString('latin1'))}\nsplit: ${JSON.stringify(split.out?.subarray(Math.max(0, d - 100), d + 100).toString('latin1'))}`,
            );
          }
        } else if (split.error?.message !== whole.error?.message) {
          throw new Error(`case ${i}: error depends on chunking: ${whole.error?.message} / ${split.error?.message}`);
        }
      }
      if (CASES >= 100000 && i % 100000 === 0 && i > 0) {
        console.log(`fuzz: ${i} cases, ${errors} rejected, ${((Date.now() - started) / 1000).toFixed(0)} s`);
      }
    }
    console.log(`fuzz: ${CASES} cases clean (${errors} rejected inputs) in ${((Date.now() - started) / 1000).toFixed(1)} s, seed ${SEED}`);
  });
});
