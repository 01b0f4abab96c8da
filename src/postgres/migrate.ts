/**
 * Schema migrations of the PostgreSQL store (see `backend/migrations.ts`): the numbered SQL files
 * in `migrations/`, each applied in the same transaction as its record in `<schema>.migrations`,
 * under an advisory lock so that replicas starting together do not race.
 */
import type { Pool } from "pg";
import { migrationsAfter, readMigrations } from "../backend/migrations.js";
import { withPoolClient } from "./pool-client.js";

const directory = new URL("./migrations/", import.meta.url);

/** Brings `schema` to the latest version; `NewerSchemaError` if it is newer than that. */
export async function migrate(pool: Pool, schema: string): Promise<void> {
  const known = readMigrations(directory);
  const quoted = `"${schema}"`;
  await withPoolClient(pool, async (client) => {
    try {
      await client.query("BEGIN");
      // One migrator per schema at a time; the lock ends with the transaction.
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`setpoint:${schema}`]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoted}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${quoted}.migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const { rows } = await client.query(
        `SELECT max(version) AS version FROM ${quoted}.migrations`,
      );
      const current = rows[0].version === null ? 0 : Number(rows[0].version);
      const pending = migrationsAfter(
        known,
        current,
        (version, latest) =>
          `the store in schema ${schema} is at version ${version}, newer than this setpoint knows (${latest}); upgrade setpoint`,
      );
      for (const migration of pending) {
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
    }
  });
}
