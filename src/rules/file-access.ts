/**
 * What a rules file may read. Rules files are handed between people (a supplier's, a colleague's, one
 * from a pull request), and what they name is read into the output: `pick: {from: /proc/self/environ}`
 * would ship the pseudonym key and PGPASSWORD in every row. So the files a rule names — pick lists,
 * `extends`, js modules — are read only when they are regular files inside the directory of a rules
 * file given on the command line (or a shipped preset), and not hidden (`.pgpass`, `.env`, `.ssh/`):
 * symbolic links are followed first, so a link cannot point out of it.
 */
import { realpathSync, statSync } from 'node:fs';
import { dirname, relative, resolve, sep, isAbsolute } from 'node:path';

/** Where anything may be read from: never from the kernel's or devices' trees, whatever the root. */
const NEVER = ['/proc', '/sys', '/dev'];

export class RulesFiles {
  private readonly roots: string[];

  /** `files`: the rules files named on the command line; `presets`: the shipped presets' directory. */
  constructor(files: readonly string[], presets: string) {
    this.roots = [...files.map((f) => dirname(real(resolve(f)) ?? resolve(f))), real(presets) ?? presets];
  }

  /**
   * The real path of `path` when a rule may read it; otherwise why not (a phrase that names the path as
   * written, never what the file holds).
   */
  check(path: string): { file: string } | { why: string } {
    const file = real(path);
    if (file === undefined) return { why: 'no such file' };
    if (NEVER.some((d) => file === d || file.startsWith(d + sep))) return { why: 'a system file, not a list of the team\'s own' };
    const under = this.roots.map((r) => relative(r, file)).find((rel) => rel !== '' && !rel.startsWith('..') && !isAbsolute(rel));
    if (under === undefined) return { why: "outside the rules file's directory (rules read only files beside them or below)" };
    if (under.split(sep).some((part) => part.startsWith('.'))) return { why: 'a hidden file (rules never read dot files such as .pgpass or .env)' };
    let regular = false;
    try {
      regular = statSync(file).isFile();
    } catch {
      return { why: 'cannot be read' };
    }
    if (!regular) return { why: 'not a regular file' };
    return { file };
  }
}

function real(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}
