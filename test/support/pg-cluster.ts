/**
 * A throwaway PostgreSQL cluster for the tests: initdb in a temp dir, unix socket only (no TCP),
 * a random port, started and stopped by the test setup. The server refuses to run as root, so when
 * we are root the server binaries run as the `postgres` OS user.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PgInfo {
  host: string;
  port: number;
  bin: string;
  dir: string;
}

export function findPgBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length) return join(root, versions[0]!, 'bin');
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  if (which.status === 0) return join(which.stdout.trim(), '..');
  throw new Error('PostgreSQL server binaries not found: install postgresql or set PG_BIN');
}

/** argv that runs `cmd` as the postgres OS user when we are root. */
function asPg(cmd: string, args: string[]): string[] {
  return process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', cmd, ...args] : [cmd, ...args];
}

function run(argv: string[], mayFail = false): void {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0 && !mayFail) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
}

/** `superuser`: another name than postgres lets a pg_dumpall output, which creates role postgres, restore with ON_ERROR_STOP. */
export function startCluster(superuser = 'postgres'): PgInfo {
  const bin = findPgBin();
  const dir = mkdtempSync(join(tmpdir(), 'anonymise-dump-pg-'));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  chmodSync(dir, 0o755);
  const data = join(dir, 'data');
  run(asPg(join(bin, 'initdb'), ['-D', data, '-U', superuser, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']));
  // a random port; only the unix socket in our own temp dir listens
  const port = 20000 + Math.floor(Math.random() * 20000);
  const opts = `-p ${port} -k ${dir} -c listen_addresses= -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c unix_socket_permissions=0777`;
  run(asPg(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', opts, 'start']));
  return { host: dir, port, bin, dir };
}

export function stopCluster(pg: PgInfo): void {
  run(asPg(join(pg.bin, 'pg_ctl'), ['-D', join(pg.dir, 'data'), '-m', 'immediate', '-w', 'stop']), true);
  rmSync(pg.dir, { recursive: true, force: true });
}
