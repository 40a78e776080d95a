/**
 * Node 24 (current LTS) beside Node 20: the same commands, run by each, give the same bytes and exit
 * statuses — plain and gzip runs, init, check, scan, find, and custom and directory archives with
 * workers (--jobs 2). Node 24 comes from the npm registry (`npx -p node@24`), as the README tells users.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { scratch } from './support/scratch.js';
import { createDb, pgEnv, psql } from './support/db.js';
import { BIN, COUNCIL, NODE_FLAGS, ROOT, SAMPLE } from './support/cli.js';

const KEY = 'node24-test-Hq4vN8xK2mPz7wR';
let node24 = '';
let dir = '';

function run(node: string, args: string[], tag: string): { status: number | null; stdout: Buffer; stderr: string } {
  // with the bin's V8 flags, as its shebang runs it under whichever node is first on the PATH
  const r = spawnSync(node, [...NODE_FLAGS, BIN, ...args.map((a) => a.replaceAll('{tag}', tag))], {
    env: { PATH: process.env.PATH, ANONYMISE_DUMP_SECRET: KEY },
    cwd: ROOT,
    maxBuffer: 1 << 28,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

const skip = Boolean(process.env.AD_SKIP_NODE24);

beforeAll(() => {
  if (skip) return;
  const found = spawnSync('npx', ['-y', '-p', 'node@24', 'node', '-p', 'process.execPath'], { encoding: 'utf8', timeout: 300_000 });
  node24 = found.stdout.trim();
  if (found.status !== 0 || !node24)
    throw new Error(`cannot get Node 24 with npx -p node@24 (${found.stderr.trim().split('\n').pop()}): set AD_SKIP_NODE24=1 to skip these tests`);
  dir = scratch('ad-node24-');
  createDb('node24_src');
  psql('node24_src', readFileSync(join(ROOT, 'fixtures/sample/sample-db.sql'), 'utf8'));
  for (const [name, args] of [['src.dump', ['-Fc']], ['src.dir', ['-Fd']]] as const) {
    const r = spawnSync(join(inject('pg').bin, 'pg_dump'), [...args, '-f', join(dir, name), '-d', 'node24_src'], { env: pgEnv() });
    if (r.status !== 0) throw new Error(r.stderr.toString());
  }
}, 360_000);

describe.skipIf(skip)('Node 24 and Node 20 give the same outputs', () => {
  it('runs on Node 24', () => {
    expect(spawnSync(node24, ['--version'], { encoding: 'utf8' }).stdout).toMatch(/^v24\./);
  });

  it.each([
    ['run, plain', ['-q', '-r', COUNCIL, SAMPLE]],
    ['run, gzip', ['-q', '-r', COUNCIL, '--gzip', '--compress-level', '6', SAMPLE]],
    ['init', ['init', SAMPLE]],
    ['check', ['check', '-r', COUNCIL, SAMPLE]],
    ['scan', ['scan', SAMPLE]],
    ['find', ['find', SAMPLE, '--where', 'public.users_user.id=2']],
    ['run, custom archive, --jobs 2', ['-q', '-r', COUNCIL, '--jobs', '2', '{dir}/src.dump']],
    ['run, directory archive, --jobs 2', ['-q', '-r', COUNCIL, '--jobs', '2', '-o', '{dir}/out-{tag}.dir', '{dir}/src.dir']],
  ])('%s', (_name, template) => {
    const args = template.map((a) => a.replaceAll('{dir}', dir));
    const a = run(process.execPath, args, '20');
    const b = run(node24, args, '24');
    // (a command that ended with work pending exits 13 on both: the status itself is asserted)
    expect(a.status, a.stderr).toBe(0);
    expect(b.status, b.stderr).toBe(0);
    expect(b.stderr).toBe(a.stderr);
    expect(b.stdout.equals(a.stdout)).toBe(true);
    if (args.includes('-o')) {
      const files = readdirSync(join(dir, 'out-20.dir')).sort();
      expect(readdirSync(join(dir, 'out-24.dir')).sort()).toEqual(files);
      for (const f of files) expect(readFileSync(join(dir, 'out-24.dir', f)).equals(readFileSync(join(dir, 'out-20.dir', f))), f).toBe(true);
    }
  }, 120_000);
});
