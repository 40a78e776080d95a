/**
 * Reading a rules file's YAML nodes: each value checked for its shape, every problem an error at its
 * `file:line` (exit 2). What the rules reader (rules-file.ts) and its parts share.
 */
import { dirname, resolve } from 'node:path';
import { isMap, isScalar, type LineCounter, type Node, type Pair, type YAMLMap } from 'yaml';
import { AnonymiseError } from '../errors.js';
import type { Where } from '../contract/rules-model.js';
import { shown } from './syntax.js';
import type { RulesFiles } from './file-access.js';

export interface PendingModule {
  file: string;
  name: string;
  key: string;
  at: Where;
}

export interface PendingFake {
  spec: { method: string; unique: boolean; locale: string };
  methodAt: Where;
  localeAt: Where;
}

export class Ctx {
  constructor(
    readonly file: string,
    private readonly lc: LineCounter,
    readonly fakes: PendingFake[],
    readonly modules: PendingModule[] = [],
    readonly files?: RulesFiles,
  ) {}
  line(node: Node | Pair | null | undefined): number {
    const n = node && 'range' in node ? node : (node as Pair | undefined)?.key;
    const range = (n as Node | undefined)?.range;
    return range ? this.lc.linePos(range[0]).line : 1;
  }
  fail(node: Node | Pair | null | undefined, message: string): never {
    throw new AnonymiseError('RULES', message, { file: this.file, line: this.line(node) });
  }
  where(node: Node | Pair | null | undefined): Where {
    return { file: this.file, line: this.line(node) };
  }
  /** `path` (relative to this rules file) when a rule may read it (file-access.ts); else an error at `node` naming `what`. */
  localFile(node: Node | Pair | null | undefined, path: string, what: string): string {
    const full = resolve(dirname(this.file), path);
    if (!this.files) return full;
    const r = this.files.check(full);
    if ('why' in r) this.fail(node, `${what} ${shown(path)}: ${r.why}`);
    return r.file;
  }
}

export function scalarString(ctx: Ctx, node: unknown, what: string): string {
  if (!isScalar(node) || typeof node.value !== 'string') ctx.fail(node as Node, `${what} must be a string`);
  return node.value;
}

export function scalarInt(ctx: Ctx, node: unknown, what: string, min: number, max: number): number {
  if (!isScalar(node) || typeof node.value !== 'number' || !Number.isInteger(node.value) || node.value < min || node.value > max)
    ctx.fail(node as Node, `${what} must be an integer from ${min} to ${max}`);
  return node.value;
}

export function pairs(ctx: Ctx, node: unknown, what: string): { key: string; pair: Pair; value: unknown }[] {
  if (!isMap(node)) ctx.fail(node as Node, `${what} must be a mapping`);
  return (node as YAMLMap).items.map((pair) => {
    const k = pair.key;
    if (!isScalar(k) || (typeof k.value !== 'string' && typeof k.value !== 'number')) ctx.fail(k as Node, `${what}: keys must be names`);
    return { key: String(k.value), pair, value: pair.value };
  });
}

export function onlyKeys(ctx: Ctx, items: { key: string; pair: Pair }[], allowed: string[], what: string): void {
  for (const { key, pair } of items)
    if (!allowed.includes(key)) ctx.fail(pair.key as Node, `unknown key ${shown(key)} in ${what} (expected ${allowed.join(', ')})`);
}
