/**
 * Schema migrations: numbered SQL files in `migrations/`, applied in order, each in the same
 * transaction as its record in `<schema>.migrations`, under an advisory lock so that replicas
 * starting together do not race. A schema already at a newer version than these files is
 * refused rather than misread.
 */
import { readdirSync, readFileSync } from "node:fs";
import type { Pool } from "pg";

const directory = new URL("./migrations/", import.meta.url);

/** The migrations this code knows, by version: `NNN_name.sql`. */
function migrations(): { version: number; name: string; sql: string }[] {
  return readdirSync(directory)
    .filter((file) => /^\d{3}_.+\.sql$/.test(file))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 3)),
      name: file,
      sql: readFileSync(new URL(file, directory), "utf8"),
    }));
}

/** Brings `schema` to the latest version. */
export async function migrate(pool: Pool, schema: string): Promise<void> {
  const known = migrations();
  const latest = known[known.length - 1]!.version;
  const quoted = `"${schema}"`;
  const client = await pool.connect();
  // pg emits `error` on a checked-out client whose connection dies; unheard, it ends the process.
  // The query in flight fails too, and that is what the caller gets.
  let lost: Error | undefined;
  const onError = (error: Error) => {
    lost = error;
  };
  client.on("error", onError);
  try {
    await client.query("BEGIN");
    // One migrator per schema at a time; the lock ends with the transaction.
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`setpoint:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoted}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${quoted}.migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query(`SELECT max(version) AS version FROM ${quoted}.migrations`);
    const current = rows[0].version === null ? 0 : Number(rows[0].version);
    if (current > latest)
      throw new Error(
        `the store in schema ${schema} is at version ${current}, newer than this setpoint knows (${latest}); upgrade setpoint`,
      );
    for (const migration of known) {
      if (migration.version <= current) continue;
      await client.query(migration.sql.replaceAll("__SCHEMA__", quoted));
      await client.query(`INSERT INTO ${quoted}.migrations (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
    }
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.off("error", onError);
    client.release(lost);
  }
}
