/**
 * `init --db URL`: the schema from the catalog and a bounded sample of each table, streamed with
 * pg-query-stream (a cursor: memory holds one batch, whatever the table's size).
 */
import { connectTo, loadQueryStream } from './db-connect.js';
import { ScanCollector, type ScanResult } from './scan.js';

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

export async function sampleDatabase(url: string, options: { sampleRows: number }): Promise<ScanResult> {
  const QueryStream = await loadQueryStream();
  const client = await connectTo(url, 'the database');
  try {
    const cols = await client.query<{ schema: string; table: string; column: string; type: string; notnull: boolean; generated: boolean; parent: string | null }>(
      `SELECT n.nspname AS schema, c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
              a.attnotnull AS notnull, a.attgenerated <> '' AS generated,
              (SELECT pn.nspname || '.' || p.relname FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
                 JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE i.inhrelid = c.oid AND c.relispartition) AS parent
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
        ORDER BY 1, 2, a.attnum`,
    );
    const uniques = await client.query<{ table: string; column: string }>(
      `SELECT n.nspname || '.' || c.relname AS table, a.attname AS column
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
        WHERE i.indisunique AND i.indnatts = 1 AND i.indexprs IS NULL`,
    );
    const schema: ScanResult['schema'] = {};
    for (const r of cols.rows) {
      const key = `${r.schema}.${r.table}`;
      const t = (schema[key] ??= { columns: [], unique: [], parent: r.parent ?? undefined });
      t.columns.push({ name: r.column, type: r.type, notNull: r.notnull, generated: r.generated });
    }
    for (const u of uniques.rows) schema[u.table]?.unique.push(u.column);
    const collector = await ScanCollector.create({ sampleRows: options.sampleRows, jsonKeys: true, namePairs: true });
    for (const [key, t] of Object.entries(schema)) {
      if (t.parent) continue; // sampled through the parent
      const columns = t.columns.filter((c) => !c.generated).map((c) => c.name);
      if (columns.length === 0) continue;
      const dot = key.indexOf('.');
      const sql = `SELECT ${columns.map((c) => `${ident(c)}::text`).join(', ')} FROM ${ident(key.slice(0, dot))}.${ident(key.slice(dot + 1))} LIMIT ${options.sampleRows}`;
      const stream = client.query(new QueryStream(sql, [], { batchSize: 500, rowMode: 'array' }));
      for await (const row of stream as AsyncIterable<(string | null)[]>) collector.row(key, columns, (c) => row[c] ?? null);
    }
    return { tables: collector.tables, objects: collector.objects, schema, bytesIn: 0 };
  } finally {
    await client.end().catch(() => {});
  }
}
