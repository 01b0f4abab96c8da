/**
 * Structured logs through pino. setpoint logs through a {@link Logger}; pass your own pino
 * logger (or anything with the same methods) to the Manager to route them.
 */
import { pino } from "pino";
import pretty from "pino-pretty";

/** The subset of pino's logger setpoint uses. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /**
   * `pretty`: one readable line per entry, for people; `json`: pino's JSON lines, for machines.
   * @default the `SETPOINT_LOG_FORMAT` environment variable, else "pretty"
   */
  readonly format?: "pretty" | "json";
  /** @default the `SETPOINT_LOG_LEVEL` environment variable, else "info" */
  readonly level?: string;
}

/**
 * A pino logger on standard output, as the `setpoint` command logs: readable lines by default
 * (time, level, message, then the controller, key and other fields), JSON lines when asked.
 *
 * @example
 * ```ts
 * const logger = createLogger({ format: "json" }); // or SETPOINT_LOG_FORMAT=json
 * await run([widgets], { plane, signal, logger });
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.SETPOINT_LOG_LEVEL ?? "info";
  const format = options.format ?? (process.env.SETPOINT_LOG_FORMAT === "json" ? "json" : "pretty");
  if (format !== "pretty" && format !== "json")
    throw new RangeError(`format (${JSON.stringify(format)}) must be "pretty" or "json"`);
  if (format === "json") return pino({ name: "setpoint", level });
  return pino(
    { level },
    // Written synchronously, as pino's JSON lines are: nothing is lost when the process exits.
    pretty({
      ignore: "pid,hostname,name,instance",
      translateTime: "HH:MM:ss",
      singleLine: true,
      sync: true,
    }),
  );
}

/**
 * The logger a Manager uses when given none: {@link createLogger}'s, so readable lines for
 * people unless `SETPOINT_LOG_FORMAT=json`; the level from `SETPOINT_LOG_LEVEL` (default info).
 */
export function defaultLogger(): Logger {
  return createLogger();
}

/** A logger that drops everything, for tests and benchmarks. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
