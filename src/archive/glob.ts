/**
 * `--tables` patterns over `schema.table`, as a shell reads them: `*`, `?`, and classes (`[a-m]`,
 * `[!a-m]`), so that a batch system can split an archive's tables by name.
 */
export function globMatcher(patterns: readonly string[]): (table: string) => boolean {
  const res = patterns.map((p) => new RegExp(`^${globSource(p)}$`, 's'));
  return (table) => res.some((re) => re.test(table));
}

function globSource(p: string): string {
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[' && p.indexOf(']', i + 2) !== -1) {
      const end = p.indexOf(']', i + 2);
      let body = p.slice(i + 1, end);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      out += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return out;
}
