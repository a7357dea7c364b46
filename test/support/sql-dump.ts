import pg from 'pg';

/**
 * What a backup of a database holds, read through SQL: every row of every table, materialized view
 * and view, the state of every sequence and the source of every function, in every schema but
 * PostgreSQL's own. Works with any server version, where a pg_dump must match the server's major
 * version (and the embedded server ships none).
 */
export async function sqlDump(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const out: string[] = [];
    const { rows: relations } = await client.query<{ schema: string; name: string; kind: string }>(
      `SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'm', 'v', 'S')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
        ORDER BY 1, 2`,
    );
    for (const r of relations) {
      const name = `${client.escapeIdentifier(r.schema)}.${client.escapeIdentifier(r.name)}`;
      if (r.kind === 'v' || r.kind === 'm') {
        const def = await client.query<{ def: string }>('SELECT pg_get_viewdef($1::regclass) AS def', [name]);
        out.push(`-- view ${name}\n${def.rows[0]?.def ?? ''}`);
      }
      if (r.kind === 'S') {
        const seq = await client.query<{ last_value: string }>(`SELECT last_value::text FROM ${name}`);
        out.push(`-- sequence ${name}: ${seq.rows[0]?.last_value}`);
        continue;
      }
      // Each row as its composite literal: every column, as text.
      const data = await client.query<{ row: string }>(`SELECT t::text AS row FROM ${name} t`);
      out.push(`-- ${r.kind === 'v' ? 'view' : 'table'} ${name}: ${data.rowCount} rows`, ...data.rows.map((d) => d.row));
    }
    const { rows: functions } = await client.query<{ def: string }>(
      `SELECT pg_get_functiondef(p.oid) AS def FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE p.prokind IN ('f', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY n.nspname, p.proname`,
    );
    out.push(...functions.map((f) => f.def));
    return out.join('\n') + '\n';
  } finally {
    await client.end();
  }
}
