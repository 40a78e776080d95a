/**
 * An archive as the plain SQL dump pg_restore would print for it (`pg_restore -f -`, owners included):
 * what `check`, `scan`, `init` and `--format plain` read, through the same engine as a plain dump.
 * Entries come in pg_restore's order (ACLs after everything else); a custom archive's data blocks are
 * read in file order, which pg_dump writes in TOC order.
 */
import { AnonymiseError } from '../errors.js';
import { ArchiveFormat, badArchive, definitionSql, entryName, hasData, ownerStatement, restorePass, text, type TocEntry } from './format.js';
import { customBlobs, customData, directoryBlobs, directoryData, peekBlockId, supportedCompression, type Archive } from './reader.js';

export interface PlainOptions {
  /** also the entries pg_restore writes only with --create (CREATE DATABASE and its properties): what scan reads */
  everything?: boolean;
}

const enc = (s: string) => Buffer.from(s, 'latin1');

function header(e: TocEntry, data: boolean): string {
  const schema = e.namespace ? e.namespace : '-';
  return `--\n-- ${data ? 'Data for ' : ''}Name: ${e.tag ?? ''}; Type: ${e.desc ?? ''}; Schema: ${schema}; Owner: ${e.owner ?? ''}\n--\n\n`;
}

export async function* archiveAsPlain(a: Archive, options: PlainOptions = {}): AsyncGenerator<Buffer> {
  supportedCompression(a.header.compression, 'the archive');
  yield enc(
    `--\n-- PostgreSQL database dump\n--\n\n` +
      (a.header.serverVersion ? `-- Dumped from database version ${a.header.serverVersion}\n` : '') +
      (a.header.dumpVersion ? `-- Dumped by pg_dump version ${a.header.dumpVersion}\n` : '') +
      '\n',
  );
  // the session settings pg_restore starts a script with, the archive's own three among them
  const special = new Set(['ENCODING', 'STDSTRINGS', 'SEARCHPATH']);
  yield enc('SET statement_timeout = 0;\nSET lock_timeout = 0;\nSET idle_in_transaction_session_timeout = 0;\n');
  for (const e of a.toc) if (special.has(e.desc ?? '') && e.defn) yield enc(e.defn);
  yield enc('SET check_function_bodies = false;\nSET xmloption = content;\nSET client_min_messages = warning;\nSET row_security = off;\n\n');
  const byId = new Map(a.toc.map((e) => [e.dumpId, e]));
  for (const pass of [0, 1, 2] as const) {
    for (const e of a.toc) {
      if (restorePass(e) !== pass || special.has(e.desc ?? '')) continue;
      if (!options.everything && (e.desc === 'DATABASE' || e.desc === 'DATABASE PROPERTIES')) continue;
      if (hasData(e, a.format)) {
        yield* entryData(a, e);
        continue;
      }
      const sql = definitionSql(e, byId);
      const owner = ownerStatement(e);
      if (sql) yield enc(header(e, false) + sql + '\n' + (owner ? owner + '\n' : ''));
    }
  }
  if (a.reader && !(await a.reader.atEnd())) throw badArchive('the archive holds data blocks its TOC does not list (corrupt archive?)');
  yield enc('--\n-- PostgreSQL database dump complete\n--\n\n');
}

async function* entryData(a: Archive, e: TocEntry): AsyncGenerator<Buffer> {
  if (e.desc === 'BLOBS') {
    // a large-object descriptor lives as long as its transaction
    yield enc(header(e, true) + 'BEGIN;\n\n');
    const blobs = a.format === ArchiveFormat.Custom ? (await atBlock(a, e), customBlobs(a.reader!, a.header, e)) : directoryBlobs(a, e);
    for await (const b of blobs) {
      // as pg_restore writes large-object data into a script: lo_open, lowrite in pieces, lo_close
      let s = `SELECT pg_catalog.lo_open('${b.oid}', 131072);\n`;
      for (let i = 0; i < b.data.length || i === 0; i += 16384) s += `SELECT pg_catalog.lowrite(0, '\\x${b.data.subarray(i, i + 16384).toString('hex')}');\n`;
      yield enc(s + 'SELECT pg_catalog.lo_close(0);\n\n');
    }
    yield enc('COMMIT;\n\n');
    return;
  }
  if (e.desc !== 'TABLE DATA') throw new AnonymiseError('UNSUPPORTED', `an entry of type ${text(e.desc)} with data of its own is not known to this version`, { entry: entryName(e) });
  yield enc(header(e, true));
  if (e.copyStmt) yield enc(e.copyStmt);
  const data = a.format === ArchiveFormat.Custom ? (await atBlock(a, e), customData(a.reader!, a.header, e)) : directoryData(a, e);
  yield* data;
}

async function atBlock(a: Archive, e: TocEntry): Promise<void> {
  const id = await peekBlockId(a.reader!, a.header);
  if (id === null) throw badArchive("the archive ends before this entry's data (truncated archive?)", entryName(e));
}
