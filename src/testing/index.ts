/**
 * `setpoint/testing`: test doubles — a control plane and manager on a fake clock, `eventually`,
 * a throwaway PostgreSQL. It needs no test framework; the backend conformance suite, which
 * registers vitest tests, is `setpoint/testing/conformance`.
 */
export {
  type EventuallyOptions,
  eventually,
  type UntilReachedOptions,
  untilReached,
  withDeadline,
} from "./eventually.js";
export { FakeClock, flushMicrotasks } from "./fake-clock.js";
export { postgresAvailable, startTestPostgres, type TestPostgres } from "./postgres.js";
export { createTestEnv, type TestEnv, type TestEnvOptions } from "./test-env.js";
