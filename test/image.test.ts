/**
 * The container image: `npm run image` builds it from the Dockerfile with buildah (no registry), and its
 * entrypoint, run as the image says (its user, its working directory), anonymises the sample from stdin
 * exactly as the command does here.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratch } from './support/scratch.js';
import { COUNCIL, NODE_FLAGS, ROOT, SAMPLE, runCli } from './support/cli.js';

const KEY = 'image-test-Rk3pV8nQ5xM2wZ7y';
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const skip = Boolean(process.env.AD_SKIP_IMAGE);
type Config = { User?: string; Entrypoint?: string[]; WorkingDir?: string };
let config: Config = {};

const buildah = (args: string[], input?: Buffer) => spawnSync('buildah', args, { input, maxBuffer: 1 << 28 });

beforeAll(() => {
  if (skip) return;
  if (spawnSync('buildah', ['--version']).status !== 0)
    throw new Error('buildah not found: apt-get install buildah mmdebstrap (as .ci/run does), or set AD_SKIP_IMAGE=1 to skip the image test');
  const built = spawnSync('npm', ['run', '--silent', 'image'], { cwd: ROOT, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`npm run image failed: ${built.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const inspected = buildah(['inspect', '--type', 'image', `anonymise-dump:${VERSION}`]);
  config = (JSON.parse(inspected.stdout.toString()) as { OCIv1: { config: Config } }).OCIv1.config;
}, 600_000);

describe.skipIf(skip)('the container image (npm run image)', () => {
  it('is tagged with the version, runs as an unprivileged user, and its entrypoint is anonymise-dump', () => {
    expect(config.Entrypoint).toEqual(['anonymise-dump']);
    expect(config.User).toBe('node');
    expect(config.WorkingDir).toBe('/work');
  });

  it("its entrypoint anonymises the sample from stdin as the command does here, byte for byte, on the image's Node 24", () => {
    const data = scratch('ad-image-');
    copyFileSync(COUNCIL, join(data, 'rules.yaml'));
    // readable by the image's user, as a mounted ConfigMap is
    chmodSync(data, 0o755);
    chmodSync(join(data, 'rules.yaml'), 0o644);
    const from = buildah(['from', '--quiet', `anonymise-dump:${VERSION}`]);
    expect(from.status, from.stderr.toString()).toBe(0);
    const ctr = from.stdout.toString().trim();
    try {
      const run = (args: string[], input?: Buffer) =>
        buildah(['run', '--isolation', 'chroot', '--user', config.User!, '--workingdir', config.WorkingDir!, '-v', `${data}:/data:ro`, '--env', `ANONYMISE_DUMP_SECRET=${KEY}`, ctr, '--', ...config.Entrypoint!, ...args], input);
      const node = run(['--version']);
      expect(node.stdout.toString().trim()).toBe(VERSION);
      const inImage = run(['-q', '-r', '/data/rules.yaml'], readFileSync(SAMPLE));
      expect(inImage.status, inImage.stderr.toString()).toBe(0);
      const here = runCli(['-q', '-r', COUNCIL, SAMPLE], { key: KEY });
      expect(inImage.stdout.length).toBeGreaterThan(1000);
      expect(inImage.stdout.equals(here.stdout)).toBe(true);
      // the build's code cache was made by the image's Node, so the image's runs start from it
      const cache = buildah(['run', '--isolation', 'chroot', '--user', config.User!, ctr, '--', 'node', ...NODE_FLAGS, '--input-type=module', '-e', "import('/opt/anonymise-dump/bin/load-cli.cjs').then((m) => process.stdout.write(m.loadBundle().cache))"]);
      expect(cache.stdout.toString(), cache.stderr.toString()).toBe('accepted');
      // the image's user cannot write outside its working directory
      expect(buildah(['run', '--isolation', 'chroot', '--user', config.User!, ctr, '--', 'sh', '-c', 'touch /opt/anonymise-dump/x']).status).not.toBe(0);
    } finally {
      buildah(['rm', ctr]);
    }
  }, 120_000);
});
