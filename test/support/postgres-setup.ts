/**
 * Vitest global setup: one throwaway PostgreSQL server for the whole run (each test uses a schema
 * of its own), or SETPOINT_TEST_POSTGRES_URL. Where PostgreSQL is not installed, PostgreSQL tests
 * skip with a message — except in CI (CI=true), where that is a failure.
 */
import type { TestProject } from "vitest/node";
import { postgresAvailable, startTestPostgres } from "../../src/testing/postgres.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** A PostgreSQL connection string, or "" when PostgreSQL is not available here. */
    postgresUrl: string;
  }
}

export default async function setup(project: TestProject) {
  if (!postgresAvailable()) {
    if (process.env.CI)
      throw new Error(
        "PostgreSQL is not installed, and CI may not skip its tests: install it (apt-get install -y postgresql) or set SETPOINT_TEST_POSTGRES_URL",
      );
    console.warn("PostgreSQL is not installed here: its tests are skipped");
    project.provide("postgresUrl", "");
    return;
  }
  const postgres = await startTestPostgres();
  project.provide("postgresUrl", postgres.url);
  return () => postgres.stop();
}
