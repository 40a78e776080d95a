/** The run command's defaults (src/cli/run.ts): how many threads a plain dump gets when --jobs is left out. */
import { describe, expect, it } from 'vitest';
import { defaultPlainJobs } from '../src/cli/run.js';

describe('--jobs left out, plain dump', () => {
  it.each([
    [true, 1, 1],
    [true, 2, 2],
    [true, 8, 8],
    [false, 1, 1],
    [false, 2, 1],
    [false, 3, 1],
    [false, 4, 2],
    [false, 16, 14],
  ])('a file: %s, %i cores: %i thread(s) (a pipe leaves two cores to pg_dump and the server)', (file, cores, jobs) => {
    expect(defaultPlainJobs(file, cores)).toBe(jobs);
  });
});
