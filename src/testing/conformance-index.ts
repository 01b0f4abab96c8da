/**
 * `setpoint/testing/conformance`: the backend conformance suite, which every store of setpoint
 * passes and a store of your own should too. It registers vitest tests, so it needs `vitest` (and
 * `zod`, for the suite's kinds) in the project that imports it; `setpoint/testing` does not.
 *
 * @example
 * ```ts
 * import { runBackendConformance } from "setpoint/testing/conformance";
 * runBackendConformance("my store", () => new MyBackend());
 * ```
 */
export { type ConformanceOptions, conformanceKinds, runBackendConformance } from "./conformance.js";
