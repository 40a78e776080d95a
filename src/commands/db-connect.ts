/**
 * Connecting to a live database (`init --db`, `scan --against`): one place that turns a failed
 * connection into one line a user can act on — the server's own words when it answered, what the
 * network said when it did not — with the form of URL that works as psql does. The URL is never
 * repeated (it may hold a password).
 */
import type pg from 'pg';
import type QueryStream from 'pg-query-stream';
import { AnonymiseError } from '../errors.js';
import { loadModule } from '../load-module.js';

// the client is loaded by the commands that connect, not by every run (~40 ms to load)
const loadPg = async (): Promise<typeof pg> => (await loadModule<{ default: typeof pg }>('pg')).default;
export const loadQueryStream = async (): Promise<typeof QueryStream> => (await loadModule<{ default: typeof QueryStream }>('pg-query-stream')).default;

const HINT = 'postgresql:///DBNAME takes host, port and user from PGHOST, PGPORT and PGUSER (and the password from PGPASSWORD or ~/.pgpass), as psql does';

export async function connectTo(url: string, what: string, config: Omit<pg.ClientConfig, 'connectionString'> = {}): Promise<pg.Client> {
  // anything else (a dump's path given where a database is asked for) would be read as a socket path
  if (!/^postgres(ql)?:\/\//i.test(url)) throw new AnonymiseError('USAGE', `cannot connect to ${what}: expected a postgresql:// URL; ${HINT}`);
  const { Client } = await loadPg();
  let client: pg.Client;
  try {
    client = new Client({ ...config, connectionString: url });
  } catch {
    throw new AnonymiseError('USAGE', `cannot connect to ${what}: the URL cannot be read; ${HINT}`);
  }
  try {
    await client.connect();
    return client;
  } catch (e) {
    await client.end().catch(() => undefined);
    throw new AnonymiseError('USAGE', `cannot connect to ${what}: ${why(e)}; ${HINT}`);
  }
}

function why(e: unknown): string {
  const err = (e ?? {}) as { code?: string; message?: string; severity?: string; address?: string; port?: number };
  // the server answered: its message names the database or role it refused, never a password
  if (err.severity && err.message) return `the server says "${err.message.split('\n')[0]!.slice(0, 200)}" (${err.code ?? 'error'})`;
  const at = err.address ? ` at ${err.address}${err.port ? ` port ${err.port}` : ''}` : '';
  switch (err.code) {
    case 'ECONNREFUSED':
      return `nothing is listening${at} (ECONNREFUSED)`;
    case 'ENOENT':
      return `no server socket${at} (ENOENT): is the server running, and PGHOST the socket's directory?`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name does not resolve (${err.code})`;
    case 'ETIMEDOUT':
      return `no answer${at} (ETIMEDOUT)`;
    default:
      return `the connection failed${err.code ? ` (${err.code})` : ''}`;
  }
}
