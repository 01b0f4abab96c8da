/**
 * Schema migrations, one mechanism for setpoint's SQL stores (SQLite for the durable store,
 * PostgreSQL): numbered SQL files `NNN_name.sql` in a `migrations/` directory beside the store's
 * code (copied to `dist` by the build), applied in order, each once, in the transaction that
 * records the schema's version. A store at a newer version than the files is refused with
 * {@link NewerSchemaError}, never misread.
 */
import { readdirSync, readFileSync } from "node:fs";

/** One numbered migration. */
export interface Migration {
  readonly version: number;
  /** Its file name, `NNN_name.sql`. */
  readonly name: string;
  readonly sql: string;
}

/** The migrations in `directory`, by version. */
export function readMigrations(directory: URL): readonly Migration[] {
  return readdirSync(directory)
    .filter((file) => /^\d{3}_.+\.sql$/.test(file))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 3)),
      name: file,
      sql: readFileSync(new URL(file, directory), "utf8"),
    }));
}

/**
 * A store whose schema is at a newer version than this setpoint knows: written by a newer
 * setpoint, and not to be read by this one. Not retryable: upgrade setpoint.
 */
export class NewerSchemaError extends Error {
  override readonly name = "NewerSchemaError";

  constructor(
    message: string,
    /** The store's version. */
    readonly version: number,
    /** The latest version this setpoint knows. */
    readonly latest: number,
  ) {
    super(message);
  }
}

/**
 * The migrations a store at version `current` still needs, in order. A store newer than every
 * one of `known` is refused: `NewerSchemaError` with the message `describe` gives.
 */
export function migrationsAfter(
  known: readonly Migration[],
  current: number,
  describe: (current: number, latest: number) => string,
): readonly Migration[] {
  const latest = known[known.length - 1]?.version ?? 0;
  if (current > latest) throw new NewerSchemaError(describe(current, latest), current, latest);
  return known.filter((migration) => migration.version > current);
}
