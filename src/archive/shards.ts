/**
 * One archive across many machines: plan, run a shard, assemble.
 *
 * A run with workers already cuts each table's rows into pieces of whole rows (archive/rewrite.ts), the
 * same pieces for the same input whoever cuts them, and writes each piece's packed output in order. A
 * sharded run moves that across machines:
 *   plan      cuts every piece (decompressing, not rewriting), digests each, and groups runs of pieces
 *             of one table into units balanced by size over N shards;
 *   shard I   cuts the same pieces, checks the digests of its units' pieces, rewrites and packs only
 *             those, and writes them with a manifest (digests, row counts, the run's statistics);
 *   assemble  runs the archive through the same writer with the shards' pieces in place of its workers'
 *             (and the TOC, kept tables and large objects as a run would): the output is byte for byte
 *             the one a run on one machine writes with the same rules and key.
 * A part from another plan, other rules or another key, a missing or a duplicated unit, or a piece whose
 * bytes do not match its digest is refused, and nothing is written.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AnonymiseError } from '../errors.js';
import { countLf, type TableStats } from '../dump/rewriter.js';
import type { PieceJob, PieceResult, PieceRunner } from './pool.js';

export const PLAN_KIND = 'anonymise-dump plan';
export const PART_KIND = 'anonymise-dump part';

export interface Unit {
  id: number;
  shard: number;
  dumpId: number;
  /** pieces first..last (inclusive) of the entry */
  first: number;
  last: number;
  /** the pieces' input bytes (decompressed rows) */
  bytes: number;
}

export interface Plan {
  kind: typeof PLAN_KIND;
  version: 1;
  /** the archive, as given to plan (a shard and assemble read it from there unless told otherwise) */
  input: string;
  format: 'custom' | 'directory';
  /** sha256 of the archive's TOC (toc.dat, or a custom archive's header and TOC) */
  toc: string;
  /** every rules file read (presets and extends included), by sha256 */
  rules: { file: string; sha256: string }[];
  /** the rules files named with -r, which later steps load when given none */
  rulesGiven: string[];
  /** the pseudonym key's one-way id (evidence.ts) */
  keyId: string;
  pieceBytes: number;
  compressLevel: number;
  shards: number;
  /** per COPY entry, each piece's input sha256, in order */
  pieces: Record<string, string[]>;
  units: Unit[];
}

export interface PartPiece {
  dumpId: number;
  index: number;
  /** where its packed output lies in the part's data file */
  offset: number;
  size: number;
  sha256: string;
  length: number;
  adler: number;
  lines: number;
  stats: TableStats[];
}

export interface PartManifest {
  kind: typeof PART_KIND;
  version: 1;
  plan: string;
  shard: number;
  keyId: string;
  rules: { file: string; sha256: string }[];
  units: number[];
  pieces: PartPiece[];
}

export const digest = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const pieceKey = (dumpId: number, index: number) => `${dumpId}:${index}`;

/** Cuts and digests every piece (the plan's pass): nothing is rewritten, nothing written. */
export class CountingPieces implements PieceRunner {
  readonly pieces = new Map<number, { sha256: string; bytes: number }[]>();
  run(job: PieceJob): Promise<PieceResult> {
    const list = this.pieces.get(job.dumpId) ?? [];
    this.pieces.set(job.dumpId, list);
    list[job.index] = { sha256: digest(job.data), bytes: job.data.length };
    return Promise.resolve({ out: new Uint8Array(0), length: 0, adler: 1, lines: countLf(Buffer.from(job.data.buffer, job.data.byteOffset, job.data.byteLength), 0, job.data.byteLength), stats: [] });
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Units of runs of pieces of one entry, about `target` bytes each, assigned to shards largest first. */
export function makeUnits(entries: { dumpId: number; pieces: { bytes: number }[] }[], shards: number): Unit[] {
  const total = entries.reduce((n, e) => n + e.pieces.reduce((m, p) => m + p.bytes, 0), 0);
  // several units a shard, so that one large table spreads and the shards come out even
  const target = Math.max(1, Math.ceil(total / (shards * 4)));
  const units: Unit[] = [];
  for (const e of entries) {
    let first = 0;
    let bytes = 0;
    e.pieces.forEach((p, i) => {
      bytes += p.bytes;
      if (bytes >= target || i === e.pieces.length - 1) {
        units.push({ id: units.length, shard: 0, dumpId: e.dumpId, first, last: i, bytes });
        first = i + 1;
        bytes = 0;
      }
    });
  }
  const load = new Array<number>(shards).fill(0);
  for (const u of [...units].sort((a, b) => b.bytes - a.bytes || a.id - b.id)) {
    const s = load.indexOf(Math.min(...load));
    u.shard = s;
    load[s] += u.bytes;
  }
  return units;
}

/**
 * A shard's runner: its units' pieces go to the run's own workers after their input is checked against
 * the plan; each result is kept for the part. Other pieces are passed over (their lines still counted,
 * so that a message names the right line).
 */
export class ShardPieces implements PieceRunner {
  readonly results: { dumpId: number; index: number; result: PieceResult }[] = [];
  private inner: PieceRunner | null = null;
  private readonly mine = new Set<string>();

  constructor(
    private readonly plan: Plan,
    shard: number,
    private readonly makeInner: () => PieceRunner,
  ) {
    for (const u of plan.units) if (u.shard === shard) for (let i = u.first; i <= u.last; i++) this.mine.add(pieceKey(u.dumpId, i));
  }

  async run(job: PieceJob): Promise<PieceResult> {
    if (!this.mine.has(pieceKey(job.dumpId, job.index)))
      return { out: new Uint8Array(0), length: 0, adler: 1, lines: countLf(Buffer.from(job.data.buffer, job.data.byteOffset, job.data.byteLength), 0, job.data.byteLength), stats: [] };
    const want = this.plan.pieces[String(job.dumpId)]?.[job.index];
    if (want !== digest(job.data))
      throw new AnonymiseError('BAD_INPUT', `piece ${job.index} of entry ${job.dumpId} is not the one the plan cut: this archive is not the one planned (or it changed)`);
    this.inner ??= this.makeInner();
    const result = await this.inner.run(job);
    this.results.push({ dumpId: job.dumpId, index: job.index, result });
    return result;
  }

  async close(reason?: unknown): Promise<void> {
    await this.inner?.close(reason);
  }

  /** Writes the part into the (new, empty) directory `dir`: data (the packed pieces, in order) and manifest.json. */
  writePart(dir: string, manifest: Omit<PartManifest, 'pieces'>): PartManifest {
    const fd = openSync(join(dir, 'data'), 'wx', 0o600);
    const pieces: PartPiece[] = [];
    let offset = 0;
    try {
      for (const { dumpId, index, result } of this.results.sort((a, b) => a.dumpId - b.dumpId || a.index - b.index)) {
        const out = Buffer.from(result.out.buffer, result.out.byteOffset, result.out.byteLength);
        writeSync(fd, out);
        pieces.push({ dumpId, index, offset, size: out.length, sha256: digest(out), length: result.length, adler: result.adler, lines: result.lines, stats: result.stats });
        offset += out.length;
      }
    } finally {
      closeSync(fd);
    }
    const full: PartManifest = { ...manifest, pieces };
    const mfd = openSync(join(dir, 'manifest.json'), 'wx', 0o600);
    try {
      writeSync(mfd, JSON.stringify(full) + '\n');
    } finally {
      closeSync(mfd);
    }
    return full;
  }
}

/** Reads a part's manifest; what is not one is refused by name. */
export function readPart(dir: string): PartManifest {
  let m: PartManifest;
  try {
    m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as PartManifest;
  } catch {
    throw new AnonymiseError('USAGE', `${dir}: not a part (no manifest.json that run --plan --shard writes)`);
  }
  if (m.kind !== PART_KIND || m.version !== 1) throw new AnonymiseError('USAGE', `${dir}: not a part of a sharded run`);
  return m;
}

/**
 * Assemble's runner: every piece from the parts, checked against its digest, in place of a worker's.
 * The parts are checked first: one plan, the same rules and key, every unit exactly once.
 */
export class PartsPieces implements PieceRunner {
  private readonly byKey = new Map<string, { dir: string; piece: PartPiece }>();

  constructor(plan: Plan, planId: string, parts: { dir: string; manifest: PartManifest }[], keyId: string) {
    const seen = new Map<number, string>();
    for (const { dir, manifest } of parts) {
      if (manifest.plan !== planId) throw new AnonymiseError('USAGE', `${dir}: a part of another plan`);
      if (manifest.keyId !== keyId) throw new AnonymiseError('USAGE', `${dir}: made with another pseudonym key than this one`);
      if (JSON.stringify(manifest.rules.map((r) => r.sha256)) !== JSON.stringify(plan.rules.map((r) => r.sha256))) throw new AnonymiseError('USAGE', `${dir}: made with other rules than the plan's`);
      for (const u of manifest.units) {
        if (seen.has(u)) throw new AnonymiseError('USAGE', `${dir}: unit ${u} is also in ${seen.get(u)} (a shard given twice?)`);
        seen.set(u, dir);
      }
      for (const p of manifest.pieces) this.byKey.set(pieceKey(p.dumpId, p.index), { dir, piece: p });
    }
    const shardsMissing = [...new Set(plan.units.filter((u) => !seen.has(u.id)).map((u) => u.shard))];
    if (shardsMissing.length) throw new AnonymiseError('USAGE', `the part of shard ${shardsMissing.join(', ')} is missing (${plan.shards} shards in the plan)`);
    for (const u of plan.units)
      for (let i = u.first; i <= u.last; i++)
        if (!this.byKey.has(pieceKey(u.dumpId, i))) throw new AnonymiseError('USAGE', `${seen.get(u.id)}: piece ${i} of entry ${u.dumpId} is missing from the part`);
  }

  run(job: PieceJob): Promise<PieceResult> {
    const found = this.byKey.get(pieceKey(job.dumpId, job.index));
    if (!found) return Promise.reject(new AnonymiseError('USAGE', `piece ${job.index} of entry ${job.dumpId} is in no part: the archive is not the one planned`));
    const { dir, piece } = found;
    const out = Buffer.alloc(piece.size);
    const fd = openSync(join(dir, 'data'), 'r');
    try {
      if (piece.size > 0 && readSync(fd, out, 0, piece.size, piece.offset) !== piece.size) throw new AnonymiseError('USAGE', `${dir}: its data file is cut short`);
    } finally {
      closeSync(fd);
    }
    if (digest(out) !== piece.sha256) return Promise.reject(new AnonymiseError('USAGE', `${dir}: piece ${job.index} of entry ${job.dumpId} does not match its digest (a changed part)`));
    return Promise.resolve({ out, length: piece.length, adler: piece.adler, lines: piece.lines, stats: piece.stats });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
