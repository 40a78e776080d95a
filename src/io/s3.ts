/**
 * Object storage (S3 and S3-compatible servers: MinIO, R2, Ceph) as an input and as an output, streamed.
 *
 * Reading: the object in ranged GETs of RANGE_BYTES, each body streamed as it arrives and the next range
 * asked for ahead, so memory stays at a few socket buffers whatever the object's size (and a dropped
 * connection costs one range, not the whole object).
 * Writing: a multipart upload (lib-storage), 16 MiB parts and QUEUE parts in flight; the object
 * appears only when the upload completes, and a failed or interrupted run aborts it: no object is left,
 * as `-o FILE` leaves no file.
 *
 * Credentials, region and endpoint come from the AWS SDK's standard sources (AWS_ACCESS_KEY_ID…,
 * AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL); with a custom endpoint, addressing is
 * path-style (what MinIO and Ceph serve without DNS for each bucket). The SDK is loaded only when an
 * s3:// address is given.
 */
import { createHash } from 'node:crypto';
import { Transform, type Writable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { AnonymiseError } from '../errors.js';
import { loadModule } from '../load-module.js';

/** The S3 client's module, loaded by the first s3:// run (src/load-module.ts) */
const sdk = () => loadModule<typeof import('@aws-sdk/client-s3')>('@aws-sdk/client-s3');

const RANGE_BYTES = 16 << 20;
/** 16 MiB parts: S3 takes at most 10,000 parts, so an object of up to 156 GiB; AD_S3_PART_MIB for more. */
const DEFAULT_PART_MIB = 16;
const QUEUE = 2;

export interface S3Location {
  bucket: string;
  key: string;
  url: string;
}

export const isS3Url = (s: string | undefined): s is string => s !== undefined && /^s3:\/\//i.test(s);

/** `s3://BUCKET/KEY` split; a bucket alone, or a name S3 would refuse, is a usage error. */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/]+)\/(.*)$/i.exec(url);
  if (!m || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(m[1]!))
    throw new AnonymiseError('USAGE', `${url.slice(0, 200)} is not an object address: write s3://BUCKET/KEY (a bucket of 3-63 lowercase letters, digits, dots and hyphens)`);
  return { bucket: m[1]!, key: m[2]!, url };
}

let shared: Promise<S3Client> | null = null;

/** One client per process, configured from the environment as the AWS CLI would be. */
function client(env: Record<string, string | undefined>): Promise<S3Client> {
  shared ??= (async () => {
    // the SDK warns on every Node 20 start that its 2027 releases need Node 22; ours is pinned and tested
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const { S3Client } = await sdk();
    const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
    return new S3Client({
      endpoint,
      forcePathStyle: endpoint !== undefined || env.AWS_S3_FORCE_PATH_STYLE === 'true',
      // a custom endpoint needs some region to sign with; AWS itself is told by AWS_REGION or the profile
      region: env.AWS_REGION || env.AWS_DEFAULT_REGION || (endpoint ? 'us-east-1' : undefined),
      maxAttempts: 5,
    });
  })();
  return shared;
}

/** A failed request as one line: the address, what was tried, the service's error code; never a body or a credential. */
export function storageError(loc: S3Location, what: string, e: unknown): AnonymiseError {
  if (e instanceof AnonymiseError) return e;
  const err = e as { name?: string; Code?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const code = err.Code ?? err.name ?? err.code ?? 'error';
  const status = err.$metadata?.httpStatusCode;
  const hint =
    code === 'NoSuchKey' || code === 'NotFound' ? ': no such object'
    : code === 'NoSuchBucket' ? ': no such bucket'
    : code === 'CredentialsProviderError' ? ': no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)'
    : code === 'AccessDenied' || code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch' || status === 403 ? ': access denied (check the credentials and the bucket policy)'
    : code === 'ECONNREFUSED' || code === 'ENOTFOUND' ? ': the storage server cannot be reached (AWS_ENDPOINT_URL_S3?)'
    : '';
  return new AnonymiseError('STORAGE', `${loc.url}: cannot ${what} (${code}${status ? ` ${status}` : ''})${hint}`);
}

/** The object's size, or null when there is none under that key. */
export async function objectSize(loc: S3Location, env: Record<string, string | undefined>): Promise<number | null> {
  const c = await client(env);
  const { HeadObjectCommand } = await sdk();
  try {
    const h = await c.send(new HeadObjectCommand({ Bucket: loc.bucket, Key: loc.key }));
    return h.ContentLength ?? 0;
  } catch (e) {
    const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404) return null;
    throw storageError(loc, 'read', e);
  }
}

/**
 * The object's bytes in order, in ranged reads; `size` from objectSize. Each range's body is passed on
 * as it arrives (never gathered into one buffer), and the next range is asked for as soon as this one
 * starts: its body waits in the socket, held back by TCP, so the next read has no round trip to wait.
 */
export async function* readObject(loc: S3Location, size: number, env: Record<string, string | undefined>): AsyncGenerator<Buffer> {
  const c = await client(env);
  const { GetObjectCommand } = await sdk();
  const request = (start: number) => {
    const end = Math.min(size, start + RANGE_BYTES) - 1;
    const response = c.send(new GetObjectCommand({ Bucket: loc.bucket, Key: loc.key, Range: `bytes=${start}-${end}` }));
    // a failed read ahead is reported when its turn comes, not as an unhandled rejection
    response.catch(() => {});
    return { start, length: end - start + 1, response };
  };
  let next = size > 0 ? request(0) : null;
  while (next) {
    const range = next;
    let body: AsyncIterable<Uint8Array>;
    try {
      body = (await range.response).Body as unknown as AsyncIterable<Uint8Array>;
    } catch (e) {
      throw storageError(loc, 'read', e);
    }
    next = range.start + range.length < size ? request(range.start + range.length) : null;
    let got = 0;
    try {
      for await (const chunk of body) {
        got += chunk.length;
        yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
      }
    } catch (e) {
      throw storageError(loc, 'read', e);
    }
    if (got !== range.length)
      throw new AnonymiseError('STORAGE', `${loc.url}: the object changed or was cut while it was read (a range gave ${got} bytes, not ${range.length})`);
  }
}

/** Every object under `prefix` (a directory archive's files), with its size. */
export async function listObjects(loc: S3Location, env: Record<string, string | undefined>): Promise<{ key: string; size: number }[]> {
  const c = await client(env);
  const { ListObjectsV2Command } = await sdk();
  const out: { key: string; size: number }[] = [];
  let token: string | undefined;
  try {
    do {
      const r = await c.send(new ListObjectsV2Command({ Bucket: loc.bucket, Prefix: loc.key, ContinuationToken: token }));
      for (const o of r.Contents ?? []) out.push({ key: o.Key!, size: o.Size ?? 0 });
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  } catch (e) {
    throw storageError(loc, 'list', e);
  }
  return out;
}

/** An upload in progress: write to `sink`, then `complete()`; or `abort()`, which leaves no object. */
export interface ObjectUpload {
  sink: Writable;
  complete(): Promise<void>;
  abort(): Promise<void>;
  /** the sha256 of every byte written to the sink (for --evidence), once it has ended */
  sha256(): string;
}

export async function uploadObject(loc: S3Location, env: Record<string, string | undefined>): Promise<ObjectUpload> {
  const c = await client(env);
  const { Upload } = await loadModule<typeof import('@aws-sdk/lib-storage')>('@aws-sdk/lib-storage');
  // the sink holds 1 MiB before it pushes back on the writer; it digests what passes (--evidence)
  const hash = createHash('sha256');
  const sink = new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  let digest: string | null = null;
  const mib = Number(env.AD_S3_PART_MIB ?? DEFAULT_PART_MIB);
  if (!Number.isInteger(mib) || mib < 5 || mib > 5120) throw new AnonymiseError('USAGE', '$AD_S3_PART_MIB is the size of an upload part in MiB: a whole number from 5 to 5120');
  const upload = new Upload({ client: c, params: { Bucket: loc.bucket, Key: loc.key, Body: sink }, partSize: mib << 20, queueSize: QUEUE, leavePartsOnError: false });
  let failure: unknown = null;
  const done = upload.done().then(
    () => {},
    (e: unknown) => {
      failure = e;
      // the writer is told at its next write
      sink.destroy(storageError(loc, 'write', e));
    },
  );
  let aborted = false;
  return {
    sink,
    complete: async () => {
      await done;
      if (failure) throw storageError(loc, 'write', failure);
    },
    sha256: () => (digest ??= hash.digest('hex')),
    abort: async () => {
      if (aborted) return;
      aborted = true;
      sink.on('error', () => {});
      await upload.abort().catch(() => {});
      // (an object smaller than a part is one PUT sent when the sink ends, which only a success does:
      // an abort before that leaves no object, and an older object under the key stays as it was)
      await done;
    },
  };
}

export async function deleteObject(loc: S3Location, env: Record<string, string | undefined>): Promise<void> {
  const c = await client(env);
  const { DeleteObjectCommand } = await sdk();
  await c.send(new DeleteObjectCommand({ Bucket: loc.bucket, Key: loc.key }));
}
