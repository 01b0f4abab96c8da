/**
 * Structured logs through pino. setpoint logs through a {@link Logger}; pass your own pino
 * logger (or anything with the same methods) to the Manager to route them.
 */
import { pino } from "pino";

/** The subset of pino's logger setpoint uses. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/**
 * The default logger: pino at `info`, JSON lines on standard output, or `level` from the
 * `SETPOINT_LOG_LEVEL` environment variable.
 */
export function defaultLogger(): Logger {
  return pino({ name: "setpoint", level: process.env.SETPOINT_LOG_LEVEL ?? "info" });
}

/** A logger that drops everything, for tests and benchmarks. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
