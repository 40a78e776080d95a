/**
 * A column's CHECK constraints (its domain's and its table's, written with VALUE for the column) read as
 * bounds on its value, for the rules that move a number or a date: what they write must pass them on
 * restore, or the rule is refused.
 */

/** A CHECK read as bounds on VALUE; null when it says more than `VALUE >= n AND VALUE < m` and the like. */
export function checkBounds(check: string): { op: '>=' | '>' | '<=' | '<'; n: number }[] | null {
  const NUM = String.raw`-?\d+(?:\.\d+)?`;
  // PostgreSQL writes `(VALUE >= '-5'::integer)`, `((VALUE)::numeric <= 99.99)`: casts to a number type,
  // quotes around a number and parentheses say nothing more
  const t = check
    .replace(/::\s*(?:integer|bigint|smallint|numeric|decimal|real|double\s+precision|int[248]?|float[48]?)(?:\s*\(\s*\d+\s*(?:,\s*\d+\s*)?\))?/gi, ' ')
    .replace(new RegExp(`'(${NUM})'`, 'g'), '$1')
    .replace(/[()]/g, ' ')
    .replace(new RegExp(`\\bVALUE\\s+BETWEEN\\s+(${NUM})\\s+AND\\s+(${NUM})`, 'gi'), 'VALUE >= $1 AND VALUE <= $2');
  const out: { op: '>=' | '>' | '<=' | '<'; n: number }[] = [];
  const flip = { '>=': '<=', '>': '<', '<=': '>=', '<': '>' } as const;
  for (const part of t.split(/\bAND\b/i)) {
    const c = part.trim();
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^VALUE\\s*(>=|>|<=|<)\\s*(${NUM})$`, 'i').exec(c))) out.push({ op: m[1] as '>=', n: Number(m[2]) });
    else if ((m = new RegExp(`^(${NUM})\\s*(>=|>|<=|<)\\s*VALUE$`, 'i').exec(c))) out.push({ op: flip[m[2] as '>='], n: Number(m[1]) });
    else if (!/^VALUE\s+IS\s+NOT\s+NULL$/i.test(c)) return null;
  }
  return out;
}

