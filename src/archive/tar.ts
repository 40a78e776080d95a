/**
 * pg_dump's tar format (-Ft): a POSIX ustar file whose members are the files of a directory archive
 * (toc.dat first, then each entry's data as `ID.dat`, large objects as `blob_OID.dat` followed by their
 * list), uncompressed. Read in place from a file (each member's place found from its header), and
 * written from a directory archive's files in the order pg_restore reads them.
 */
import { closeSync, createReadStream, fstatSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { badArchive } from './format.js';

export interface Member {
  offset: number;
  size: number;
}

const BLOCK = 512;

/**
 * Where each member of a tar file lies: its 512-byte headers walked to the zero block that ends the
 * archive. A damaged header, a member running past the end of the file, or no end block is a cut or
 * corrupt archive.
 */
export function tarMembers(path: string): Map<string, Member> {
  const members = new Map<string, Member>();
  const fd = openSync(path, 'r');
  try {
    const total = fstatSync(fd).size;
    const head = Buffer.alloc(BLOCK);
    for (let at = 0; ; ) {
      if (at + BLOCK > total || readSync(fd, head, 0, BLOCK, at) < BLOCK) throw badArchive('the tar archive ends before its end blocks (truncated archive?)');
      if (head.every((b) => b === 0)) return members;
      if (checksum(head) !== octal(head, 148, 8)) throw badArchive(`the tar archive has a damaged header at byte ${at} (corrupt archive?)`);
      const prefix = field(head, 345, 155);
      const name = prefix ? `${prefix}/${field(head, 0, 100)}` : field(head, 0, 100);
      const size = memberSize(head);
      const offset = at + BLOCK;
      // the member is named by its place only: a crafted tar's member names are text from outside
      if (offset + size > total) throw badArchive(`the tar archive ends inside its member at byte ${at} (truncated archive?)`);
      // regular files only ('0', or NUL in old archives); pg_dump writes nothing else
      if (head[156] === 0x30 || head[156] === 0) members.set(name, { offset, size });
      at = offset + Math.ceil(size / BLOCK) * BLOCK;
    }
  } finally {
    closeSync(fd);
  }
}

/** A member's bytes, read whole (toc.dat, large-object lists and contents). */
export function readMember(path: string, m: Member): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(m.size);
    for (let got = 0; got < m.size; ) {
      const n = readSync(fd, b, got, m.size - got, m.offset + got);
      if (n === 0) throw badArchive('the tar archive changed while it was read (truncated archive?)');
      got += n;
    }
    return b;
  } finally {
    closeSync(fd);
  }
}

/** A member's bytes as a stream. */
export function memberStream(path: string, m: Member): AsyncIterable<Buffer> {
  return m.size === 0 ? (async function* () {})() : createReadStream(path, { start: m.offset, end: m.offset + m.size - 1, highWaterMark: 1 << 20 });
}

/**
 * Writes the files `names` of directory `dir`, in that order, as a tar file at `target` (created, mode
 * 0600): each a ustar header, its bytes, zero padding to the block; then the two end blocks.
 */
export async function writeTar(dir: string, names: readonly string[], target: string, signal?: AbortSignal): Promise<number> {
  const fd = openSync(target, 'wx', 0o600);
  let at = 0;
  const put = (b: Buffer) => {
    for (let done = 0; done < b.length; ) done += writeSync(fd, b, done, b.length - done, at + done);
    at += b.length;
  };
  try {
    const mtime = Math.floor(Date.now() / 1000);
    for (const name of names) {
      const size = statSync(join(dir, name)).size;
      put(header(name, size, mtime));
      for await (const c of createReadStream(join(dir, name), { highWaterMark: 1 << 20 })) {
        // a signal stops the packing too: the caller removes what was written
        if (signal?.aborted) throw signal.reason;
        put(c as Buffer);
      }
      if (size % BLOCK) put(Buffer.alloc(BLOCK - (size % BLOCK)));
    }
    put(Buffer.alloc(2 * BLOCK));
    return at;
  } finally {
    closeSync(fd);
  }
}

/** A POSIX ustar header for a regular file (pg_restore checks its checksum and magic: isValidTarHeader). */
function header(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'latin1');
  h.write('0000600\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  if (size < 8 ** 11) h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  else {
    // past 8 GiB: base-256, as GNU tar and pg_dump write it
    h[124] = 0x80;
    let v = size;
    for (let i = 135; i > 124; i--) {
      h[i] = v % 256;
      v = Math.floor(v / 256);
    }
  }
  h.write(`${mtime.toString(8).padStart(11, '0')}\0`, 136, 'latin1');
  h[156] = 0x30;
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  h.write(`${checksum(h).toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

/** The header's bytes summed with its checksum field counted as spaces. */
function checksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return sum;
}

function field(b: Buffer, start: number, length: number): string {
  const end = b.indexOf(0, start);
  return b.toString('latin1', start, end === -1 || end > start + length ? start + length : end);
}

function octal(b: Buffer, start: number, length: number): number {
  const digits = b.toString('latin1', start, start + length).replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]+$/.test(digits)) throw badArchive('the tar archive has a damaged header (corrupt archive?)');
  return parseInt(digits, 8);
}

/** A member's size: octal digits, or (past 8 GiB) base-256 with the top bit set. */
function memberSize(head: Buffer): number {
  if (head[124]! & 0x80) {
    let v = 0;
    for (let i = 125; i < 136; i++) v = v * 256 + head[i]!;
    return v;
  }
  return octal(head, 124, 12);
}
