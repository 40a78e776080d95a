/**
 * `plan`, `run --plan --shard` and `assemble`: one archive across many machines (archive/shards.ts).
 * Each step checks what the one before it fixed: the archive's TOC, the rules' digests and the key's id.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AnonymiseError, EXIT } from '../errors.js';
import { compileRules, readRules } from '../engine/run.js';
import type { RulesData } from '../contract/rules-model.js';
import type { CompiledRules } from '../rules/rule-compiler.js';
import { rewriteArchive } from '../archive/rewrite.js';
import { ArchiveFormat } from '../archive/format.js';
import { DEFAULT_LEVEL } from '../archive/entries.js';
import type { Archive } from '../archive/reader.js';
import { CountingPieces, PLAN_KIND, PartsPieces, ShardPieces, digest, makeUnits, readPart, type Plan } from '../archive/shards.js';
import { pseudonymKeyId } from '../commands/evidence.js';
import { buildReport, humanSummary, rulesDigests } from '../commands/summary.js';
import { AtomicOutput, writeSmallFileAtomically } from '../io/atomic.js';
import { putSmallObject, readSmallObject, stagePrefix, stagingDirectory, uploadStaged } from '../io/s3-staging.js';
import { isS3Url, parseS3Url, uploadObject } from '../io/s3.js';
import { VERSION, openInput, secretFrom, type Io } from './io.js';

interface Common {
  rules?: string[];
  secretEnv: string;
  quiet?: boolean;
  allowJs?: boolean;
}


/** The TOC's entries as the plan fixes them (offsets aside: a file has them, a pipe does not). */
const tocDigest = (a: Archive) => digest(JSON.stringify(a.toc.map((e) => ({ ...e, offset: 0, dataState: 0 }))));

async function archiveOf(input: string | undefined, io: Io, what: string): Promise<{ archive: Archive; name: string; format: 'custom' | 'directory' }> {
  if (input === undefined || input === '-') throw new AnonymiseError('USAGE', `${what} reads an archive file or directory (or s3://), not stdin`);
  const src = await openInput(input, io);
  if (src.kind !== 'archive' || src.archive.members) throw new AnonymiseError('USAGE', `${what}: ${input} is not a custom (-Fc) or directory (-Fd) archive: a sharded run cuts an archive's tables`);
  return { archive: src.archive, name: src.name, format: src.archive.format === ArchiveFormat.Custom ? 'custom' : 'directory' };
}

async function loadRules(files: string[] | undefined, secret: string | undefined, allowJs: boolean | undefined, what: string) {
  if (!files?.length) throw new AnonymiseError('USAGE', `${what} needs the rules (-r RULES.yaml)`);
  const data = await readRules({ files, js: allowJs ? 'run' : 'refuse' });
  if (data.subset?.length) throw new AnonymiseError('USAGE', `${what}: the rules ask for a subset, which needs every table's keys at once: run it on one machine (a sharded subset is not supported yet)`);
  return { data, rules: compileRules(data, secret) };
}

/** The key, which a sharded run cannot do without: a random one would differ from machine to machine. */
function needKey(io: Io, flags: Common, what: string): string {
  const secret = io.env[flags.secretEnv] ? secretFrom(flags.secretEnv, io, 'pseudonyms') : undefined;
  if (!secret) throw new AnonymiseError('USAGE', `${what}: every shard must pseudonymise alike: set $${flags.secretEnv} to the same key on every machine`);
  return secret;
}

export async function plan(input: string | undefined, flags: Common & { shards: number; output?: string; compressLevel?: number; pieceBytes?: number }, io: Io): Promise<number> {
  if (!flags.output) throw new AnonymiseError('USAGE', 'plan writes the plan to -o FILE (plan.json)');
  const secret = needKey(io, flags, 'plan');
  const { data, rules } = await loadRules(flags.rules, secret, flags.allowJs, 'plan');
  const { archive, name, format } = await archiveOf(input, io, 'plan');
  const toc = tocDigest(archive);
  const counting = new CountingPieces();
  await rewriteArchive(archive, {
    rules,
    rulesSource: { files: flags.rules!, js: flags.allowJs ? 'run' : 'refuse' },
    format,
    output: join(stagingDirectory(), 'unused'),
    piecesOnly: true,
    pieceBytes: flags.pieceBytes,
    pieceRunner: () => counting,
  });
  const entries = [...counting.pieces].map(([dumpId, pieces]) => ({ dumpId, pieces }));
  const units = makeUnits(entries, flags.shards);
  const p: Plan = {
    kind: PLAN_KIND,
    version: 1,
    input: name,
    format,
    toc,
    rules: rulesDigests(data.files),
    rulesGiven: flags.rules!,
    keyId: pseudonymKeyId(secret),
    pieceBytes: flags.pieceBytes ?? 0,
    compressLevel: flags.compressLevel ?? DEFAULT_LEVEL,
    shards: flags.shards,
    pieces: Object.fromEntries(entries.map((e) => [String(e.dumpId), e.pieces.map((x) => x.sha256)])),
    units,
  };
  if (isS3Url(flags.output)) await putSmallObject(parseS3Url(flags.output), Buffer.from(JSON.stringify(p) + '\n'), io.env);
  else writeSmallFileAtomically(flags.output, JSON.stringify(p) + '\n');
  if (!flags.quiet) {
    const load = Array.from({ length: flags.shards }, (_, s) => units.filter((u) => u.shard === s).reduce((n, u) => n + u.bytes, 0));
    io.stderr.write(`anonymise-dump: plan of ${units.length} unit(s) over ${flags.shards} shard(s): ${load.map((b, s) => `shard ${s} ${(b / 1e6).toFixed(1)} MB`).join(', ')}\n`);
  }
  return EXIT.ok;
}

async function readPlan(path: string, io: Io): Promise<{ plan: Plan; id: string }> {
  let text: string;
  if (isS3Url(path)) {
    const bytes = await readSmallObject(parseS3Url(path), io.env);
    if (!bytes) throw new AnonymiseError('USAGE', `--plan ${path}: no such object`);
    text = bytes.toString('utf8');
  } else {
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      throw new AnonymiseError('USAGE', `--plan ${path}: no such file`);
    }
  }
  let p: Plan;
  try {
    p = JSON.parse(text) as Plan;
  } catch {
    throw new AnonymiseError('USAGE', `--plan ${path}: not a plan (not JSON)`);
  }
  if (p.kind !== PLAN_KIND || p.version !== 1) throw new AnonymiseError('USAGE', `--plan ${path}: not a plan that anonymise-dump plan writes`);
  return { plan: p, id: digest(text) };
}

/**
 * The rules a step runs with: those given with -r, or the files the plan was made with (-r then); loaded
 * (presets and `extends` included), every file read must be the plan's, byte for byte.
 */
async function planRules(p: Plan, given: string[] | undefined, secret: string, allowJs: boolean | undefined, what: string): Promise<{ files: string[]; data: RulesData; rules: CompiledRules }> {
  const files = given?.length ? given : p.rulesGiven;
  const missing = files.find((f) => !existsSync(f));
  if (missing) throw new AnonymiseError('USAGE', `${what}: no rules file ${missing} here: give the plan's rules with -r`);
  const loaded = await loadRules(files, secret, allowJs, what);
  if (JSON.stringify(rulesDigests(loaded.data.files).map((r) => r.sha256)) !== JSON.stringify(p.rules.map((r) => r.sha256)))
    throw new AnonymiseError('USAGE', 'the rules are not the plan\'s (their digests differ): every shard and assemble run with the rules the plan was made with');
  return { files, ...loaded };
}

export async function runShard(input: string | undefined, flags: Common & { plan: string; shard?: number; output?: string; jobs?: number }, io: Io): Promise<number> {
  const { plan: p, id } = await readPlan(flags.plan, io);
  const shard = flags.shard ?? (io.env.JOB_COMPLETION_INDEX !== undefined ? Number(io.env.JOB_COMPLETION_INDEX) : undefined);
  if (shard === undefined || !Number.isInteger(shard) || shard < 0 || shard >= p.shards)
    throw new AnonymiseError('USAGE', `--shard I (or $JOB_COMPLETION_INDEX) from 0 to ${p.shards - 1}: which of the plan's shards this is`);
  if (!flags.output) throw new AnonymiseError('USAGE', 'a shard writes its part to -o DIR (or s3://BUCKET/PREFIX/)');
  const remote = isS3Url(flags.output) ? parseS3Url(flags.output) : null;
  if (!remote && existsSync(flags.output)) throw new AnonymiseError('USAGE', `-o ${flags.output} exists: a part is written to a new directory`);
  const secret = needKey(io, flags, 'a shard');
  if (pseudonymKeyId(secret) !== p.keyId) throw new AnonymiseError('USAGE', `$${flags.secretEnv} is not the key the plan was made with`);
  const { files, data, rules } = await planRules(p, flags.rules, secret, flags.allowJs, 'a shard');
  const { archive } = await archiveOf(input ?? p.input, io, 'a shard');
  if (tocDigest(archive) !== p.toc) throw new AnonymiseError('USAGE', 'this archive is not the one planned (its TOC differs)');
  let runner: ShardPieces | null = null;
  const started = Date.now();
  await rewriteArchive(archive, {
    rules,
    rulesSource: { files, js: flags.allowJs ? 'run' : 'refuse' },
    jobs: flags.jobs,
    compressLevel: p.compressLevel,
    format: p.format,
    output: join(stagingDirectory(), 'unused'),
    piecesOnly: true,
    pieceBytes: p.pieceBytes || undefined,
    pieceRunner: (inner) => (runner = new ShardPieces(p, shard, inner)),
  });
  const out = AtomicOutput.directory(remote ? join(stagingDirectory(), 'part') : flags.output);
  try {
    runner!.writePart(out.tmp, { kind: 'anonymise-dump part', version: 1, plan: id, shard, keyId: p.keyId, rules: rulesDigests(data.files), units: p.units.filter((u) => u.shard === shard).map((u) => u.id) });
    out.commit();
  } catch (e) {
    out.discard();
    throw e;
  }
  // in object storage: the part's files under the prefix, its manifest last
  if (remote) await uploadStaged(out.target, remote, io.env);
  if (!flags.quiet) io.stderr.write(`anonymise-dump: shard ${shard} of ${p.shards}: ${runner!.results.length} piece(s) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return EXIT.ok;
}

export async function assemble(parts: string[], flags: Common & { plan: string; output?: string; input?: string; report?: string }, io: Io): Promise<number> {
  const { plan: p, id } = await readPlan(flags.plan, io);
  if (!flags.output) throw new AnonymiseError('USAGE', 'assemble writes the archive to -o FILE (custom) or -o DIR (directory)');
  const secret = needKey(io, flags, 'assemble');
  if (pseudonymKeyId(secret) !== p.keyId) throw new AnonymiseError('USAGE', `$${flags.secretEnv} is not the key the plan was made with`);
  const manifests = [];
  for (const part of parts) {
    // a part in object storage is copied here first (its data is read piece by piece, out of order)
    const dir = isS3Url(part) ? await stagePrefix(parseS3Url(part), io.env) : part;
    if (dir === null) throw new AnonymiseError('USAGE', `${part}: no part under this prefix`);
    manifests.push({ dir, manifest: readPart(dir) });
  }
  const pieces = new PartsPieces(p, id, manifests, p.keyId);
  const { files, data, rules } = await planRules(p, flags.rules, secret, flags.allowJs, 'assemble');
  const { archive, name } = await archiveOf(flags.input ?? p.input, io, 'assemble');
  if (tocDigest(archive) !== p.toc) throw new AnonymiseError('USAGE', 'this archive is not the one planned (its TOC differs)');
  const started = Date.now();
  // object storage: a custom archive streams into an upload; a directory archive is staged, then put
  const remote = isS3Url(flags.output) ? parseS3Url(flags.output) : null;
  const upload = remote && p.format === 'custom' ? await uploadObject(remote, io.env) : null;
  const staged = remote && !upload ? join(stagingDirectory(), 'archive') : null;
  let result;
  try {
    result = await rewriteArchive(archive, {
      rules,
      rulesSource: { files, js: flags.allowJs ? 'run' : 'refuse' },
      compressLevel: p.compressLevel,
      format: p.format,
      output: upload ? null : (staged ?? flags.output),
      stdout: upload?.sink,
      pieceBytes: p.pieceBytes || undefined,
      pieceRunner: () => pieces,
    });
    if (upload) {
      upload.sink.end();
      await upload.complete();
    }
    if (staged) await uploadStaged(staged, remote!, io.env);
  } catch (e) {
    await upload?.abort();
    throw e;
  }
  const report = buildReport(result, name, (Date.now() - started) / 1000, flags.secretEnv, { toolVersion: VERSION, rulesFiles: data.files });
  if (flags.report) writeSmallFileAtomically(flags.report, JSON.stringify(report, null, 2) + '\n');
  if (!flags.quiet) io.stderr.write(humanSummary(report));
  return EXIT.ok;
}
