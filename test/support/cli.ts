/**
 * Running the built command line from tests, and the paths tests share. One place: a test file names
 * what differs (its key, the environment it passes, extra arguments) and nothing else.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin/anonymise-dump.js');
/**
 * The Node flags on bin's first line, which a user's run has (the script run itself, or its npm link):
 * the tests run under them too, and so from the code cache, which V8 takes only under those flags.
 */
export const NODE_FLAGS = readFileSync(BIN, 'utf8').split('\n', 1)[0]!.split(/\s+/).filter((w) => w.startsWith('--'));
export const SAMPLE = join(ROOT, 'fixtures/sample/sample.sql');
export const COUNCIL = join(ROOT, 'rules/examples/council.yaml');

export interface CliOptions {
  /** what the command reads on stdin */
  input?: Buffer | string;
  /** ANONYMISE_DUMP_SECRET */
  key?: string;
  /** more environment; by default the child sees PATH (and the key) only */
  env?: Record<string, string | undefined>;
  /** the child inherits the test's whole environment (PG*, TMPDIR…) */
  inheritEnv?: boolean;
}

export interface CliResult {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

/** `anonymise-dump ARGS`, run to completion. */
export function runCli(args: string[], o: CliOptions = {}): CliResult {
  const env: Record<string, string | undefined> = o.inheritEnv ? { ...process.env } : { PATH: process.env.PATH };
  if (o.key !== undefined) env.ANONYMISE_DUMP_SECRET = o.key;
  Object.assign(env, o.env);
  const r = spawnSync(process.execPath, [...NODE_FLAGS, BIN, ...args], { input: o.input, env, maxBuffer: 1 << 30, cwd: ROOT });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/**
 * `anonymise-dump ARGS` without blocking this process: for tests that serve something the command
 * talks to (an S3 server) from the test's own event loop.
 */
export function runCliAsync(args: string[], o: CliOptions = {}): Promise<CliResult> {
  const env: Record<string, string | undefined> = o.inheritEnv ? { ...process.env } : { PATH: process.env.PATH };
  if (o.key !== undefined) env.ANONYMISE_DUMP_SECRET = o.key;
  Object.assign(env, o.env);
  const child = spawn(process.execPath, [...NODE_FLAGS, BIN, ...args], { env, cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  child.stdin.end(o.input);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }));
  });
}

/** The same, with stdout as text. */
export function runCliText(args: string[], o: CliOptions = {}): { status: number | null; stdout: string; stderr: string; raw: Buffer } {
  const r = runCli(args, o);
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr, raw: r.stdout };
}

/**
 * Waits until `ready()` holds, looking every few milliseconds: for a marker another process leaves
 * (a file, a byte of output), never a fixed time. Fails after `timeoutMs` with `what`.
 */
export async function waitFor(ready: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
