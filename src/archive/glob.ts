/** `--tables` patterns: `*` and `?` over `schema.table`, as table patterns in rules are written. */
export function globMatcher(patterns: readonly string[]): (table: string) => boolean {
  const res = patterns.map((p) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's'));
  return (table) => res.some((re) => re.test(table));
}
