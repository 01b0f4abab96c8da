/**
 * `setpoint/testing`: test doubles — a control plane and manager on a fake clock, `eventually`,
 * a throwaway PostgreSQL — and `simulate`, deterministic simulation of controllers under faults.
 * It needs no test framework; the backend conformance suite, which
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
export {
  replay,
  type SimulateSeedsOptions,
  type SimulationContext,
  SimulationFailure,
  type SimulationFaults,
  type SimulationOptions,
  type SimulationResult,
  type SimulationView,
  simulate,
  simulateSeeds,
} from "./simulate.js";
export { createTestEnv, type TestEnv, type TestEnvOptions } from "./test-env.js";
