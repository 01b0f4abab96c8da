/**
 * `setpoint/testing`: test doubles and the backend conformance suite. Needs `vitest` (and
 * `zod`, for the suite's kinds) in the project that imports it.
 */
export { type ConformanceOptions, conformanceKinds, runBackendConformance } from "./conformance.js";
export { type EventuallyOptions, eventually, withDeadline } from "./eventually.js";
export { FakeClock, flushMicrotasks } from "./fake-clock.js";
export { postgresAvailable, startTestPostgres, type TestPostgres } from "./postgres.js";
export { createTestEnv, type TestEnv, type TestEnvOptions } from "./test-env.js";
