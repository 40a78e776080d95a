/**
 * Large objects in a plain dump: pg_dump writes their contents as `SELECT pg_catalog.lowrite(0,
 * '\\x…');` statements, which follow the rule for pg_catalog.pg_largeobject, and which forget reads for
 * a person's identifiers.
 */

/** Whether the statement at `buf[code..end)` writes large-object contents. */
export function isLowrite(buf: Buffer, code: number, end: number): boolean {
  return /^SELECT\s+pg_catalog\.lowrite\s*\(/i.test(buf.toString('latin1', code, Math.min(end, code + 64)));
}

/**
 * A lowrite statement with its bytes passed through `scrub` (which returns its argument when nothing
 * changes): the statement's new bytes, or null when they would be the same.
 */
export function scrubLowrite(buf: Buffer, code: number, end: number, scrub: (data: Buffer) => Buffer): Buffer | null {
  // with standard_conforming_strings off pg_dump writes E'\\x…'
  const m = /^(SELECT\s+pg_catalog\.lowrite\s*\(\s*\d+\s*,\s*E?'\\{1,2}x)([0-9a-fA-F]*)('.*)$/s.exec(buf.toString('latin1', code, end));
  if (!m) return null;
  const data = Buffer.from(m[2]!, 'hex');
  const scrubbed = scrub(data);
  if (scrubbed === data) return null;
  return Buffer.from(`${m[1]}${scrubbed.toString('hex')}${m[3]}`, 'latin1');
}
