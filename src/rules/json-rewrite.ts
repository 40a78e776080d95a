/**
 * A json rule applied to one document: only the values its rules change are rewritten, by span; every
 * other byte of the text (spacing, key order, numbers as written) is copied as it was.
 */
import { AnonymiseError } from '../errors.js';
import type { RowAccess } from '../contract/plan.js';
import type { JsonTrie, ValueFn } from './kinds/kind.js';
import { JsonCursor, JsonSyntaxError } from '../text/json-text.js';
import { matches } from '../pseudonym/detectors.js';

/**
 * A key the rules do not name comes from the data, and maps are keyed by people too (`{"jane@…": …}`,
 * `{"Jane Smith": …}`): it is shown only when it looks like a code identifier (snake_case, kebab-case,
 * camelCase, ASCII, no detector matches it); otherwise by its shape. Keys the rules name are the rules'.
 */
function unlisted(key: string): string {
  if (/^(?:[a-z][a-z0-9]*(?:[_-][a-z0-9]+)*|[a-z]+(?:[A-Z][a-z0-9]*)+)$/.test(key) && key.length <= 40 && matches(key).next().done) return key;
  return `<a key of ${[...key].length} characters>`;
}

export function applyText(vf: ValueFn, text: string, row: RowAccess, path: string[]): string | null {
  if (vf.kind === 'text') return vf.fn(text, row);
  if (vf.kind !== 'json') throw new Error('unreachable');
  const walk = new JsonRewrite(text, row, path);
  try {
    walk.visit(vf.trie, vf.trie.star!, 0);
    walk.cursor.end();
  } catch (e) {
    if (e instanceof JsonSyntaxError) throw new AnonymiseError('BAD_INPUT', `a json rule met a value that is not JSON (${e.message})`, { table: path[0], column: path[1] });
    throw e;
  }
  return walk.result();
}

/**
 * One pass of a json rule over a document: values the rules change are replaced by span, the rest
 * of the text is copied as written.
 */
class JsonRewrite {
  readonly cursor: JsonCursor;
  private out = '';
  private copied = 0; // text before this offset is in `out`
  private readonly keys: string[] = []; // the path to the current value, for messages only

  constructor(
    private readonly text: string,
    private readonly row: RowAccess,
    private readonly path: string[],
  ) {
    this.cursor = new JsonCursor(text);
  }

  result(): string {
    return this.copied === 0 ? this.text : this.out + this.text.slice(this.copied);
  }

  private replace(from: number, to: number, json: string): void {
    this.out += this.text.slice(this.copied, from) + json;
    this.copied = to;
  }

  visit(node: JsonTrie, inherited: ValueFn, depth: number): void {
    if (node.leaf) return this.leaf(node.leaf, depth);
    const dflt = node.star ?? inherited;
    const c = this.cursor;
    if (depth > JsonCursor.MAX_DEPTH) c.tooDeep();
    const ch = c.peek();
    if (ch === 0x5b) {
      if (!c.open(0x5d)) return;
      do this.visit(node, inherited, depth + 1);
      while (c.more(0x5d));
    } else if (ch === 0x7b) {
      if (!c.open(0x7d)) return;
      do {
        if (c.peek() !== 0x22) c.fail();
        const k = c.string();
        c.expect(0x3a);
        const child = node.children.get(k);
        this.keys.push(child ? k : unlisted(k));
        if (child) this.visit(child, dflt, depth + 1);
        else this.leaf(dflt, depth + 1);
        this.keys.pop();
      } while (c.more(0x7d));
    } else this.leaf(dflt, depth);
  }

  /** Applies a leaf rule to the value at the cursor: to every scalar under it. */
  private leaf(fn: ValueFn, depth: number): void {
    const c = this.cursor;
    switch (fn.kind) {
      case 'keep': return c.skip(depth);
      case 'null':
      case 'const': {
        const from = (c.peek(), c.i);
        c.skip(depth);
        const v = fn.kind === 'null' ? null : fn.value;
        return this.replace(from, c.i, v === null ? 'null' : JSON.stringify(v));
      }
      case 'fail':
        // path: table, column; then the JSON keys
        throw new AnonymiseError('UNCLASSIFIED', `json key ${this.keys.join('.')} is not classified by the rules (unknown: fail; name it or add "*")`, {
          table: this.path[0],
          column: this.path[1],
        });
      case 'json':
        return this.visit(fn.trie, fn.trie.star ?? { kind: 'fail' }, depth);
      case 'text': {
        if (depth > JsonCursor.MAX_DEPTH) c.tooDeep();
        const ch = c.peek();
        if (ch === 0x7b) {
          if (!c.open(0x7d)) return;
          do {
            if (c.peek() !== 0x22) c.fail();
            this.keys.push(unlisted(c.string()));
            c.expect(0x3a);
            this.leaf(fn, depth + 1);
            this.keys.pop();
          } while (c.more(0x7d));
          return;
        }
        if (ch === 0x5b) {
          if (!c.open(0x5d)) return;
          do this.leaf(fn, depth + 1);
          while (c.more(0x5d));
          return;
        }
        const from = c.i;
        const s = ch === 0x22 ? c.string() : c.scalar();
        if (ch === 0x6e && s === 'null') {
          if (fn.nulls === 'replace') this.replace(from, c.i, JSON.stringify(fn.fn('', this.row)));
          return;
        }
        return this.replace(from, c.i, JSON.stringify(fn.fn(s, this.row)));
      }
    }
  }
}
