/**
 * A rules file is a trust boundary (issue 24): what its rules read is confined to the rules' own
 * directory, never hidden files or the system's trees, and `js:` runs code only under --allow-js —
 * never under check or find. Each refusal is one RULES line at file:line that never shows what the
 * file it refused holds.
 */
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { COUNCIL, SAMPLE, runCliText } from './support/cli.js';
import { scratch } from './support/scratch.js';

const KEY = 'Zq8vK2mPx7TfR4nLw9Hs-trust';
const SECRET = 'TOPSECRET-passw0rd-in-the-environment';
const root = scratch('ad-trust-');
const dir = join(root, 'rules');

function rules(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, `version: 1\n${body}`);
  return file;
}
const pickFrom = (from: string) => rules('pick.yaml', `tables:\n  public.users_user:\n    columns:\n      first_name: { pick: { from: ${JSON.stringify(from)} } }\n`);

beforeAll(() => {
  mkdirSync(join(dir, 'lists'), { recursive: true });
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(root, 'outside.txt'), 'Outside\n');
  writeFileSync(join(dir, 'names.txt'), 'Ada\nGrace\n');
  writeFileSync(join(dir, '.pgpass'), `localhost:5432:*:postgres:${SECRET}\n`);
  symlinkSync(join(root, 'outside.txt'), join(dir, 'link-out.txt'));
  symlinkSync('/proc/self/environ', join(dir, 'env-link.txt'));
  symlinkSync(join(dir, 'names.txt'), join(dir, 'lists', 'names-link.txt'));
  execFileSync('mkfifo', [join(dir, 'fifo.txt')]);
  writeFileSync(join(root, 'outside.yaml'), 'version: 1\n');
  writeFileSync(join(dir, 'sub', 'base.yaml'), 'version: 1\ntables:\n  public.users_user:\n    columns:\n      first_name: { value: Base }\n');
  writeFileSync(join(dir, 'marker.mjs'), `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(join(root, 'ran'))}, 'x');\nexport default (v) => v === null ? null : 'js';\n`);
});

const run = (args: string[]) => runCliText(args, { key: KEY, env: { PGPASSWORD: SECRET, MY_TOKEN: SECRET } });

describe('files a rule reads', () => {
  it.each([
    ['/proc/self/environ', 'a system file'],
    ['env-link.txt', 'a system file'],
    ['../outside.txt', "outside the rules file's directory"],
    ['link-out.txt', "outside the rules file's directory"],
    ['.pgpass', 'a hidden file'],
    ['lists', 'not a regular file'],
    ['fifo.txt', 'not a regular file'],
    ['nosuch.txt', 'no such file'],
  ])('pick from %s is refused: %s', (from, why) => {
    const r = run(['-r', COUNCIL, '-r', pickFrom(from), SAMPLE]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`pick.yaml:5: pick from: `);
    expect(r.stderr).toContain(why);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
    expect(r.stderr + r.stdout).not.toContain(SECRET);
  });

  it('a list beside the rules, or below them through a link that stays inside, is read', () => {
    for (const from of ['names.txt', 'lists/names-link.txt']) {
      const r = run(['-q', '-r', COUNCIL, '-r', pickFrom(from), SAMPLE]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/\t(Ada|Grace)\t/);
    }
  });

  it('extends reaches below the rules file, never above it', () => {
    const below = run(['check', '-r', COUNCIL, '-r', rules('ext-ok.yaml', 'extends: [sub/base.yaml]\n'), SAMPLE]);
    expect(below.stderr).toBe('');
    const above = run(['check', '-r', COUNCIL, '-r', rules('ext-up.yaml', 'extends: [../outside.yaml]\n'), SAMPLE]);
    expect(above.status).toBe(2);
    expect(above.stderr).toMatch(/ext-up\.yaml:2: extends: .*outside the rules file's directory/);
  });
});

describe('js rules are code', () => {
  const jsRules = () => rules('js.yaml', 'tables:\n  public.users_user:\n    columns:\n      first_name: { js: "./marker.mjs" }\n');
  const ran = () => existsSync(join(root, 'ran'));

  it('check and find read them without running a line of the module', () => {
    const check = run(['check', '-r', COUNCIL, '-r', jsRules(), SAMPLE]);
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
    const find = run(['find', '-r', COUNCIL, '-r', jsRules(), '--where', 'public.users_user.id=1', SAMPLE]);
    expect(find.stderr).not.toMatch(/js/);
    expect(ran()).toBe(false);
  });

  it('run refuses them without --allow-js, before any output, and runs them with it', () => {
    const refused = run(['-r', COUNCIL, '-r', jsRules(), SAMPLE]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/js\.yaml:5: a js rule runs code .*--allow-js/);
    expect(refused.stdout).toBe('');
    expect(ran()).toBe(false);
    const allowed = run(['-q', '--allow-js', '-r', COUNCIL, '-r', jsRules(), SAMPLE]);
    expect(allowed.stderr).toBe('');
    expect(allowed.status).toBe(0);
    expect(ran()).toBe(true);
  });
});
