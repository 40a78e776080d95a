/**
 * The CI entry points as shipped: the GitHub Action's gate step (action.yml) and the GitLab CI/CD
 * component's job script (templates/anonymise-dump.yml), each run by bash as the runner would, with its
 * inputs put in its place: check passes on rules that cover the sample and fails (exit 1) on rules that
 * do not; scan --fail-on-pii fails on the raw sample and passes on the anonymised one for the kinds asked.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratch } from './support/scratch.js';
import { BIN, COUNCIL, ROOT, SAMPLE, runCli } from './support/cli.js';

const KEY = 'ci-entry-test-Wc5tY9pQ3zL7xN';
let dir: string;
let anonymised: string;
let partial: string;
let shims: string;

beforeAll(() => {
  dir = scratch('ad-ci-entry-');
  anonymised = join(dir, 'safe.sql');
  const r = runCli(['-q', '-r', COUNCIL, '-o', anonymised, SAMPLE], { key: KEY });
  if (r.status !== 0) throw new Error(r.stderr);
  // rules that leave every table but one unclassified
  partial = join(dir, 'partial.yaml');
  writeFileSync(partial, 'version: 1\nunknown: fail\ntables:\n  public.django_migrations: keep\n');
  // `anonymise-dump` on PATH, as the image and a global install put it
  shims = join(dir, 'bin');
  mkdirSync(shims);
  writeFileSync(join(shims, 'anonymise-dump'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
  chmodSync(join(shims, 'anonymise-dump'), 0o755);
});

type Inputs = { mode: string; dump: string; rules: string[]; kinds?: string };

const cases: [string, number, () => Inputs][] = [
  ['check, rules that cover the sample', 0, () => ({ mode: 'check', dump: SAMPLE, rules: [COUNCIL] })],
  ['check, rules that leave tables unclassified', 1, () => ({ mode: 'check', dump: SAMPLE, rules: [partial] })],
  ['check without rules', 2, () => ({ mode: 'check', dump: SAMPLE, rules: [] })],
  ['scan on the raw sample', 1, () => ({ mode: 'scan', dump: SAMPLE, rules: [], kinds: 'email' })],
  ['scan on the anonymised sample, e-mail', 0, () => ({ mode: 'scan', dump: anonymised, rules: [COUNCIL], kinds: 'email' })],
  ['an unknown mode', 2, () => ({ mode: 'publish', dump: SAMPLE, rules: [] })],
];

describe('the GitHub Action (action.yml)', () => {
  const action = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as {
    inputs: Record<string, unknown>;
    runs: { using: string; steps: { id?: string; run?: string; env?: Record<string, string> }[] };
  };
  const gate = action.runs.steps.find((s) => s.id === 'gate')!;

  it('is a composite action whose inputs the gate step reads', () => {
    expect(action.runs.using).toBe('composite');
    expect(Object.keys(action.inputs).sort()).toEqual(['dump', 'kinds', 'mode', 'node-version', 'rules']);
    for (const value of Object.values(gate.env!)) expect(value).toMatch(/^\$\{\{ inputs\.[a-z-]+ \}\}$/);
  });

  it.each(cases)('%s: exit %i', (_name, status, inputs) => {
    const i = inputs();
    const values: Record<string, string> = { mode: i.mode, dump: i.dump, rules: i.rules.join('\n'), kinds: i.kinds ?? '' };
    const env = Object.fromEntries(Object.entries(gate.env!).map(([k, v]) => [k, values[/inputs\.([a-z-]+)/.exec(v)![1]!]!]));
    const out = join(dir, `github-output-${i.mode}-${status}`);
    writeFileSync(out, '');
    const r = spawnSync('bash', ['-e', '-c', gate.run!], { env: { PATH: process.env.PATH, GITHUB_ACTION_PATH: ROOT, GITHUB_OUTPUT: out, ANONYMISE_DUMP_SECRET: KEY, ...env }, encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(status);
    if (status !== 2) expect(readFileSync(out, 'utf8')).toBe(`status=${status}\n`);
    if (status !== 0) expect(r.stdout).toMatch(/^::error::anonymise-dump/m);
  });
});

describe('the GitLab CI/CD component (templates/anonymise-dump.yml)', () => {
  const [specDoc, jobsDoc] = parseAllDocuments(readFileSync(join(ROOT, 'templates/anonymise-dump.yml'), 'utf8'));
  const spec = specDoc!.toJS() as { spec: { inputs: Record<string, { default?: unknown; options?: string[] }> } };

  it('declares its inputs with the modes as options', () => {
    expect(spec.spec.inputs.mode!.options).toEqual(['check', 'scan']);
    expect(Object.keys(spec.spec.inputs)).toEqual(expect.arrayContaining(['mode', 'dump', 'rules', 'kinds', 'image']));
  });

  it.each(cases)('%s: exit %i', (_name, status, inputs) => {
    const i = inputs();
    // GitLab puts inputs in place as text before the job runs; an array input as JSON
    const values: Record<string, string> = { mode: i.mode, dump: i.dump, rules: JSON.stringify(i.rules), kinds: i.kinds ?? '', image: 'anonymise-dump:test', stage: 'test', 'job-name': 'anonymise-dump' };
    const text = jobsDoc!.toString().replace(/\$\[\[ inputs\.([a-z-]+) \]\]/g, (_m, name: string) => values[name]!.replace(/"/g, '\\"'));
    const job = Object.values(parse(text) as Record<string, { variables: Record<string, string>; script: string[] }>)[0]!;
    const r = spawnSync('sh', ['-e', '-c', job.script.join('\n')], { env: { PATH: `${shims}:${process.env.PATH}`, ANONYMISE_DUMP_SECRET: KEY, ...job.variables }, encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(status);
  });
});
