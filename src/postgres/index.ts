/**
 * `setpoint/postgres`: the PostgreSQL backend. Needs the `pg` package (an optional peer
 * dependency); importing `setpoint` alone never loads it.
 */
export { connectPostgres, PostgresBackend, type PostgresOptions } from "./postgres-backend.js";
