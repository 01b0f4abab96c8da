/**
 * Whether the live data is live: streams and watches report when they lose their connection and
 * when they have it again, and the banner says "reconnecting…" while any is down.
 */

const down = new Set<object>();
const listeners = new Set<(reconnecting: boolean) => void>();

/** Reports that the stream or watch `who` lost (`false`) or has (`true`) its connection. */
export function reportConnection(who: object, up: boolean): void {
  const before = down.size > 0;
  if (up) down.delete(who);
  else down.add(who);
  const after = down.size > 0;
  if (before !== after) for (const listener of listeners) listener(after);
}

/** Calls `listener` whenever "some connection is down" changes; returns the unsubscribe. */
export function onReconnecting(listener: (reconnecting: boolean) => void): () => void {
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}
