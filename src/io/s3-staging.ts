/**
 * Directory and tar archives in object storage go through a private temporary directory: a directory
 * archive is read entry by entry in the TOC's order (not the listing's), and a tar archive is packed
 * once its members are written. Each object is still streamed (never held in memory); what it costs is
 * local disk for one archive. A failed upload removes what it had put, so no half archive is left under
 * the prefix.
 */
import { createReadStream, createWriteStream, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { privateDirectory } from './temp-dir.js';
import { deleteObject, listObjects, objectSize, readObject, storageError, uploadObject, type S3Location } from './s3.js';

type Env = Record<string, string | undefined>;

/** A private directory (0700) removed when the process exits, whatever the outcome. */
export function stagingDirectory(): string {
  return privateDirectory('anonymise-dump-s3-');
}

/** The objects `files` (directly under `prefix`) copied into a new staging directory, which is returned. */
export async function stageObjects(loc: S3Location, files: { key: string; size: number }[], prefix: string, env: Env): Promise<string> {
  const dir = stagingDirectory();
  for (const f of files) {
    const name = f.key.slice(prefix.length);
    // only the names pg_dump writes in a directory archive (toc.dat, 1234.dat, 1234.dat.gz, blob_*.toc…)
    if (!/^[A-Za-z0-9_.-]+$/.test(name) || name.startsWith('.')) continue;
    await pipeline(Readable.from(readObject({ ...loc, key: f.key, url: `s3://${loc.bucket}/${f.key}` }, f.size, env)), createWriteStream(join(dir, name), { mode: 0o600 }));
  }
  return dir;
}

/**
 * Uploads a finished local archive: a file as the object `loc`, a directory's files as objects under
 * `loc` as a prefix. On failure the objects already put are deleted, and the error is thrown.
 */
export async function uploadStaged(local: string, loc: S3Location, env: Env): Promise<void> {
  if (!statSync(local).isDirectory()) return uploadFile(local, loc, env);
  const prefix = loc.key === '' || loc.key.endsWith('/') ? loc.key : `${loc.key}/`;
  const put: S3Location[] = [];
  try {
    // toc.dat (a part's manifest.json) last: what is under the prefix is whole once it is there
    const last = (n: string) => Number(n === 'toc.dat' || n === 'manifest.json');
    const names = readdirSync(local).sort((a, b) => last(a) - last(b));
    for (const name of names) {
      const target = { bucket: loc.bucket, key: prefix + name, url: `s3://${loc.bucket}/${prefix}${name}` };
      await uploadFile(join(local, name), target, env);
      put.push(target);
    }
  } catch (e) {
    for (const p of put) await deleteObject(p, env).catch(() => {});
    throw e;
  }
}

async function uploadFile(path: string, loc: S3Location, env: Env): Promise<void> {
  const up = await uploadObject(loc, env);
  try {
    await pipeline(createReadStream(path), up.sink);
    await up.complete();
  } catch (e) {
    await up.abort();
    throw storageError(loc, 'write', e);
  }
}

/** A small object's bytes (a plan), read whole. */
export async function readSmallObject(loc: S3Location, env: Env): Promise<Buffer | null> {
  const size = await objectSize(loc, env);
  if (size === null) return null;
  const chunks: Buffer[] = [];
  for await (const c of readObject(loc, size, env)) chunks.push(c);
  return Buffer.concat(chunks);
}

/** The objects directly under the prefix `loc` copied into a new staging directory (a sharded run's part). */
export async function stagePrefix(loc: S3Location, env: Env): Promise<string | null> {
  const prefix = loc.key === '' || loc.key.endsWith('/') ? loc.key : `${loc.key}/`;
  const files = (await listObjects({ ...loc, key: prefix }, env)).filter((o) => !o.key.slice(prefix.length).includes('/'));
  if (files.length === 0) return null;
  return stageObjects(loc, files, prefix, env);
}

/** A small object (a plan) written whole; on failure nothing is left under the key. */
export async function putSmallObject(loc: S3Location, bytes: Buffer, env: Env): Promise<void> {
  const up = await uploadObject(loc, env);
  try {
    up.sink.end(bytes);
    await up.complete();
  } catch (e) {
    await up.abort();
    throw storageError(loc, 'write', e);
  }
}
