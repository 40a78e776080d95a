/** The README guides and stays short; every link in it and in docs/ resolves in a clone of this repository. */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const pages = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');

function headings(page: string): Set<string> {
  const text = readFileSync(join(ROOT, page), 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)));
}

describe('documentation', () => {
  it('the README is at most 200 lines and opens with the two commands', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme.split('\n').length).toBeLessThanOrEqual(200);
    expect(readme).toMatch(/^# anonymise-dump\n\n```bash\nnpm ci && npm run sample .*\nnpm ci && npm test /);
  });

  it.each(pages)('%s: every relative link names a file of this repository, and its anchor a heading there', (page) => {
    const text = readFileSync(join(ROOT, page), 'utf8').replace(/```[\s\S]*?```/g, '');
    const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/.test(l));
    if (page === 'README.md') expect(links.length).toBeGreaterThanOrEqual(7); // the links were read at all
    const broken = links.filter((l) => {
      const [path, anchor] = l.split('#');
      const target = path ? join(dirname(join(ROOT, page)), path) : join(ROOT, page);
      if (!existsSync(target)) return true;
      return anchor !== undefined && target.endsWith('.md') && !headings(target.slice(ROOT.length + 1)).has(anchor);
    });
    expect(broken).toEqual([]);
  });

  it.each(pages)('%s: every source file it names exists', (page) => {
    const named = [...readFileSync(join(ROOT, page), 'utf8').matchAll(/\bsrc\/[\w/.-]+\.ts\b/g)].map((m) => m[0]);
    expect(named.filter((f) => !existsSync(join(ROOT, f)))).toEqual([]);
  });

  it('names no file outside the repository as if it were in it', () => {
    for (const page of pages) expect(readFileSync(join(ROOT, page), 'utf8')).not.toMatch(/\]\(\.\.\/\.\.?\/shared|\]\(\.\.\/shared/);
  });
});
