/** How the dashboard writes times, durations and counts. */
import { humanDuration } from "../../model/duration.js";

/**
 * An age as kubectl prints it (`45s`, `3m20s`, `5h`, `3d4h`): the served API's own function; a
 * time a little ahead of this browser's clock is `0s`.
 */
export function age(ms: number): string {
  return humanDuration(Math.max(0, ms));
}

/** The age of an RFC 3339 time or epoch milliseconds, or `""` when there is none. */
export function ageOf(time: string | number | undefined, now: number): string {
  if (time === undefined || time === "") return "";
  const at = typeof time === "number" ? time : Date.parse(time);
  return Number.isNaN(at) ? "" : age(now - at);
}

/** A reconcile's duration: `0.4 ms`, `12 ms`, `1.5 s`. */
export function duration(ms: number | undefined): string {
  if (ms === undefined) return "—";
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return age(ms);
}

/** A moment as a local wall-clock time (`22:05:40`), with the date when it is not today. */
export function clock(at: number, now: number): string {
  const date = new Date(at);
  const time = date.toLocaleTimeString(undefined, { hour12: false });
  return new Date(now).toDateString() === date.toDateString()
    ? time
    : `${date.toLocaleDateString()} ${time}`;
}

/** A relative time to come: `in 4s`, or `now` once passed. */
export function until(at: number, now: number): string {
  return at <= now ? "now" : `in ${age(at - now + 999)}`;
}

/** A count with its noun, in agreement: `1 object`, `2 objects`; `irregular` when not `+s`. */
export function plural(count: number, noun: string, irregular = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : irregular}`;
}
