/**
 * The small syntaxes inside a rules file — templates, json paths — and how its text may appear in a
 * message. Shared by the rules reader and the rule kinds (kinds/), which must not import the reader.
 */
import type { TemplatePart } from '../contract/rules-model.js';

export function parseTemplate(text: string): TemplatePart[] | string {
  const parts: TemplatePart[] = [];
  let lit = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '{' && text[i + 1] === '{') { lit += '{'; i++; continue; }
    if (c === '}' && text[i + 1] === '}') { lit += '}'; i++; continue; }
    if (c === '}') return 'a lone } in a template (write }} for a literal brace)';
    if (c === '{') {
      const close = text.indexOf('}', i + 1);
      if (close === -1) return 'a { without } in a template (write {{ for a literal brace)';
      const ref = text.slice(i + 1, close);
      if (ref === '') return 'an empty {} in a template';
      if (lit) parts.push(lit);
      lit = '';
      parts.push({ ref });
      i = close;
      continue;
    }
    lit += c;
  }
  if (lit) parts.push(lit);
  return parts;
}

/**
 * The keys of a json rule's path: `a.b` is key b inside key a; `a\.b` is the one key "a.b" (and `\\` a
 * backslash), for documents whose keys hold dots.
 */
export function jsonPath(path: string): string[] {
  const segs: string[] = [];
  let cur = '';
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    if (c === '\\' && (path[i + 1] === '.' || path[i + 1] === '\\')) cur += path[++i];
    else if (c === '.') {
      segs.push(cur);
      cur = '';
    } else cur += c;
  }
  segs.push(cur);
  return segs;
}

/** A JSON key as one segment of a json rule's path (the inverse of jsonPath for one key). */
export function jsonKeySegment(key: string): string {
  return key.replace(/\\/g, '\\\\').replace(/\./g, '\\.');
}

/**
 * Text from a rules file as a message may repeat it: names, globs and rule words are shown; anything
 * else (a file that is not a rules file at all, a secret pasted by mistake) is not.
 */
export function shown(text: string): string {
  return /^[\p{L}\p{N}_.*?$ -]{1,63}$/u.test(text) ? text : '(text not shown: it does not look like a name)';
}

/** Levenshtein distance, for did-you-mean. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** The candidate within two edits of `name` (the nearest first), for did-you-mean; undefined when none is. */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}
