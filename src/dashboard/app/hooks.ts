/** Hooks the pages share: the ticking clock, and live views of the read API. */
import { useEffect, useState } from "preact/hooks";
import { subscribe } from "./event-stream.js";
import { getJson, isAbort, isRefused, sleep, Unauthorized } from "./http.js";

/** The current time, renewed every `everyMs` so ages count up. */
export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

/** The latest answer of a stream view, or `undefined` until the first; `null` view: none. */
export function useStream<T>(view: string | null, initial?: T): T | undefined {
  const [value, setValue] = useState<T | undefined>(initial);
  useEffect(() => {
    if (view === null) return;
    const controller = new AbortController();
    void subscribe<T>(view, { data: setValue }, controller.signal);
    return () => controller.abort();
  }, [view]);
  return value;
}

/**
 * The answer of `GET path`, fetched again every `everyMs`; `null` path: none. For pages that
 * would otherwise hold more streams than a browser opens to one server over HTTP/1.1 (six).
 */
export function usePolled<T>(path: string | null, everyMs: number): T | undefined {
  const [value, setValue] = useState<T | undefined>(undefined);
  useEffect(() => {
    if (path === null) return;
    const controller = new AbortController();
    void (async () => {
      while (!controller.signal.aborted) {
        try {
          setValue(await getJson<T>(path, controller.signal));
        } catch (error) {
          // A 4xx but 410 and 429 will not pass by asking again.
          if (isAbort(error) || error instanceof Unauthorized || isRefused(error)) return;
        }
        await sleep(everyMs, controller.signal);
      }
    })();
    return () => controller.abort();
  }, [path, everyMs]);
  return value;
}
