/**
 * Writing one TOC entry of the output archive: the TOC's bytes, the order of a tar archive's members,
 * and an entry's data written by this thread (into a directory archive's file or a custom archive's
 * block), as opposed to the pieces the workers rewrite.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { deflateSync } from 'node:zlib';
import { DumpRewriter } from '../dump/rewriter.js';
import { ArchiveFormat, ArchiveWriter, BLK_BLOBS, OffsetFlag, hasData, writeToc, type ArchiveHeader, type TocEntry } from './format.js';
import { SUFFIX, ByteReader, customBlobs, dataFile, dataName, directoryBlobs, directoryData, customData, fileStream, rawBlock, type Archive } from './reader.js';
import { Redirect, rewrittenData, write, writeCustomBlock, writeDataFile, type DataAction } from './entries.js';
import type { AtomicOutput } from '../io/atomic.js';
import { release } from '../io/buffer-pool.js';
import { writeHeld, type Counted } from './ordering.js';


export function tocBytes(h: ArchiveHeader, toc: TocEntry[], format: ArchiveFormat): Buffer {
  const w = new ArchiveWriter(h.intSize, h.offSize);
  writeToc(w, h, toc, format);
  return w.take();
}

/**
 * pg_restore's order for a tar archive's members (it reads forward): toc.dat, then each data entry's file
 * in TOC order — a BLOBS entry's large objects, in its list's order, then the list.
 */
export function tarMemberOrder(dir: string, toc: readonly TocEntry[], h: ArchiveHeader): string[] {
  const names = ['toc.dat'];
  for (const e of toc) {
    if (!e.filename) continue;
    if (e.desc !== 'BLOBS') {
      names.push(e.filename);
      continue;
    }
    const list = blobListName(e, h);
    for (const line of readFileSync(join(dir, list), 'latin1').split('\n')) if (line) names.push(line.split(' ')[1]!);
    names.push(list);
  }
  return names;
}

/** The file listing a BLOBS entry's large objects, in a directory or tar archive: `blobs_ID.toc` from archive 1.16 on, else `blobs.toc`. */
export function blobListName(e: TocEntry, h: ArchiveHeader): string {
  return h.vmin >= 16 ? `blobs_${e.dumpId}.toc` : 'blobs.toc';
}

/** An entry as the output format lists it: data offsets not yet known, or the data file's name. */
export function outputEntry(e: TocEntry, a: Archive, format: ArchiveFormat, tarOut: boolean): TocEntry {
  const data = hasData(e, a.format);
  if (format === ArchiveFormat.Custom) return { ...e, dataState: data ? OffsetFlag.NotSet : OffsetFlag.NoData, offset: 0, filename: null };
  // a directory archive's entries name their files already, as a tar archive's do (`ID.dat`, large objects too) for a tar
  if (a.format === ArchiveFormat.Directory && !a.members === !tarOut) return { ...e };
  let filename = '';
  if (data) filename = e.desc === 'BLOBS' ? blobListName(e, a.header) : `${e.dumpId}.dat`;
  return { ...e, filename, dataState: OffsetFlag.NoData, offset: 0 };
}

/** One data entry of a directory archive written as a directory archive's file. */
export async function directoryEntry(a: Archive, r: ByteReader | null, e: TocEntry, act: DataAction, dest: string, out: AtomicOutput, rw: DumpRewriter, redirect: Redirect, level: number, tarOut: boolean, signal?: AbortSignal): Promise<void> {
  const dir = out.tmp;
  if (act.kind === 'copy') {
    // on libuv's pool: pieces that workers finish meanwhile are still written out
    if (a.members) await pipeline(fileStream(a, dataName(a, e)), out.createFile(dest));
    else await copyFile(dataFile(a, e), dest);
    return;
  }
  if (act.kind === 'blobs') {
    const list: string[] = [];
    if (act.keep) {
      for await (const b of r ? customBlobs(r, a.header, e) : directoryBlobs(a, e)) {
        const name = `blob_${b.oid}.dat`;
        const data = act.scrub ? act.scrub(b.data) : b.data;
        await writeDataFile(out.createFile(join(dir, name + SUFFIX[a.header.compression])), a.header, (async function* () {
          yield data;
        })(), level);
        list.push(`${b.oid} ${name}\n`);
      }
    }
    else if (r) for await (const c of rawBlock(r, a.header, e)) release(c); // read past it
    writeFileSync(join(dir, tarOut ? blobListName(e, a.header) : basename(dest).replace(/\.(gz|lz4|zst)$/, '')), list.join(''), { mode: 0o600 });
    return;
  }
  const input = r ? customData(r, a.header, e) : directoryData(a, e);
  await writeDataFile(out.createFile(dest), a.header, rewrittenData(rw, redirect, e, input, signal), level);
}

/** One data entry written as a custom archive's data block. */
export async function customEntry(a: Archive, r: ByteReader | null, e: TocEntry, act: DataAction, dest: Counted, rw: DumpRewriter, redirect: Redirect, level: number, signal?: AbortSignal): Promise<void> {
  if (act.kind === 'copy' || (act.kind === 'blobs' && act.keep && r && !act.scrub)) {
    for await (const c of rawBlock(r!, a.header, e)) await writeHeld(dest, c);
    return;
  }
  if (act.kind === 'blobs') {
    const w = new ArchiveWriter(a.header.intSize, a.header.offSize).byte(BLK_BLOBS).int(e.dumpId);
    if (act.keep) {
      // directory in, or read for forget: each large object re-framed
      for await (const b of r ? customBlobs(r, a.header, e) : directoryBlobs(a, e)) {
        w.int(b.oid);
        await write(dest, w.take());
        await writeBlobData(dest, a.header, act.scrub ? act.scrub(b.data) : b.data, level);
      }
    } else if (r) for await (const c of rawBlock(r, a.header, e)) release(c); // read past it
    await write(dest, w.int(0).take());
    return;
  }
  const input = r ? customData(r, a.header, e) : directoryData(a, e);
  await writeCustomBlock(dest, a.header, e, rewrittenData(rw, redirect, e, input, signal), level);
}

/** One large object's data as custom-archive chunks (compressed as the archive is), ending with its end marker. */
export async function writeBlobData(dest: Writable, h: ArchiveHeader, data: Buffer, level: number): Promise<void> {
  const body = h.compression === 'gzip' ? deflateSync(data, { level }) : data;
  const w = new ArchiveWriter(h.intSize, h.offSize);
  if (body.length) w.int(body.length).raw(body);
  await write(dest, w.int(0).take());
}

