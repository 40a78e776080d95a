import { existsSync, readFileSync, readdirSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { scratch } from './support/scratch.js';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AtomicOutput, writeFileAtomically } from '../src/io/atomic.js';

const scratchDir = () => scratch('ad-atomic-');

describe('AtomicOutput', () => {
  it('a file appears under its name, mode 0600, only when committed', () => {
    const dir = scratchDir();
    const target = join(dir, 'out.sql');
    const out = AtomicOutput.file(target);
    const fd = out.open();
    writeSync(fd, 'SELECT 1;\n');
    closeSync(fd);
    expect(existsSync(target)).toBe(false);
    expect(statSync(out.tmp).mode & 0o777).toBe(0o600);
    out.commit();
    expect(readFileSync(target, 'utf8')).toBe('SELECT 1;\n');
    expect(readdirSync(dir)).toEqual(['out.sql']);
    out.discard(); // after commit: nothing to do
    expect(existsSync(target)).toBe(true);
  });

  it('a failed directory output waits for files whose open is still in flight, then leaves nothing', async () => {
    const dir = scratchDir();
    for (let round = 0; round < 20; round++) {
      const d = AtomicOutput.directory(join(dir, `archive${round}`));
      // opened on libuv's pool, some written, none ended: as a run stopped by a bad entry leaves them
      const files = Array.from({ length: 40 }, (_, i) => d.createFile(join(d.tmp, `${i}.dat`)));
      files.forEach((f, i) => i % 2 && f.write('x'));
      await d.discardWhenClosed();
      expect(files.every((f) => f.closed)).toBe(true);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a discarded file or directory leaves nothing, and an existing target is untouched', () => {
    const dir = scratchDir();
    const target = join(dir, 'keep.sql');
    writeFileSync(target, 'old');
    const f = AtomicOutput.file(target);
    closeSync(f.open());
    f.discard();
    const d = AtomicOutput.directory(join(dir, 'archive'));
    writeFileSync(join(d.tmp, 'toc.dat'), 'x');
    expect(statSync(d.tmp).mode & 0o777).toBe(0o700);
    d.discard();
    expect(readdirSync(dir)).toEqual(['keep.sql']);
    expect(readFileSync(target, 'utf8')).toBe('old');
  });

  it('refuses a target whose directory does not exist, creating nothing', () => {
    const dir = scratchDir();
    for (const make of [AtomicOutput.file, AtomicOutput.directory])
      expect(() => make(join(dir, 'missing', 'out'))).toThrow(/output directory does not exist/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('writeFileAtomically: the target on success (gzip too), nothing on failure', async () => {
    const dir = scratchDir();
    await writeFileAtomically(join(dir, 'a.sql'), null, async (sink) => void sink.write('plain\n'));
    await writeFileAtomically(join(dir, 'b.sql.gz'), 6, async (sink) => void sink.write('zipped\n'));
    await expect(
      writeFileAtomically(join(dir, 'c.sql'), null, async (sink) => {
        sink.write('half');
        throw new Error('failed');
      }),
    ).rejects.toThrow('failed');
    expect(readdirSync(dir).sort()).toEqual(['a.sql', 'b.sql.gz']);
    expect(readFileSync(join(dir, 'a.sql'), 'utf8')).toBe('plain\n');
    expect(readFileSync(join(dir, 'b.sql.gz')).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
  });
});

describe('writeSmallFileAtomically', () => {
  it('writes mode 0600 also over an existing 0644 file, whole or not at all', async () => {
    const { writeSmallFileAtomically } = await import('../src/io/atomic.js');
    const { chmodSync } = await import('node:fs');
    const dir = scratchDir();
    const target = join(dir, 'report.json');
    writeFileSync(target, 'old');
    chmodSync(target, 0o644);
    writeSmallFileAtomically(target, '{"version":1}\n');
    expect(readFileSync(target, 'utf8')).toBe('{"version":1}\n');
    expect(statSync(target).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['report.json']);
  });
});
