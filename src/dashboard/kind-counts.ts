/**
 * The dashboard's counts of each kind's objects (total, not Ready, terminating) and its list of
 * Warning events, kept by one list+watch per kind (the {@link Watcher} controllers use: relists on
 * Gone, backs off on errors). Each object costs its key and one small number; nothing else of it
 * is kept. A kind's watch starts when its counts are first asked for, and stops once nobody has
 * asked for {@link COUNTS_IDLE_MS} (an overview left open asks every second), or with the server:
 * a dashboard that only shows a kind's page costs the server that page's watch, nothing more.
 */
import type { Backend, StoredObject } from "../backend/backend.js";
import { Watcher } from "../cache/watcher.js";
import type { CacheEvent } from "../cache/watcher-state.js";
import type { Clock, Timer } from "../model/clock.js";
import { type AnyKind, kindId } from "../model/kind.js";
import { keyString } from "../model/resource.js";
import type { EventSummary } from "./types.js";

/** How long a kind's counts are kept up to date after they were last asked for. */
export const COUNTS_IDLE_MS = 60_000;

const NOT_READY = 1;
const TERMINATING = 2;

/** Whether an object's `Ready` condition is there and not `True`. */
export function readyStatus(object: StoredObject): string | undefined {
  const status = (object as { status?: { conditions?: unknown } }).status;
  const conditions = Array.isArray(status?.conditions) ? status.conditions : [];
  for (const condition of conditions as { type?: unknown; status?: unknown }[])
    if (condition?.type === "Ready") return String(condition.status);
  return undefined;
}

function flagsOf(object: StoredObject): number {
  const ready = readyStatus(object);
  return (
    (ready !== undefined && ready !== "True" ? NOT_READY : 0) |
    (object.metadata.deletionTimestamp ? TERMINATING : 0)
  );
}

/** One kind's counts, kept up to date by a watch. */
export class KindCount {
  private readonly flags = new Map<string, number>();
  notReady = 0;
  terminating = 0;
  synced = false;
  private markSynced: () => void = () => {};
  /** Resolves once the first list arrived. */
  readonly ready = new Promise<void>((resolve) => {
    this.markSynced = resolve;
  });
  /** When its counts were last asked for (clock time). */
  askedAt = 0;
  readonly stop = new AbortController();

  get total(): number {
    return this.flags.size;
  }

  apply(event: CacheEvent): void {
    switch (event.type) {
      case "replace":
        this.flags.clear();
        this.notReady = 0;
        this.terminating = 0;
        for (const object of event.items) this.set(object);
        this.synced = true;
        this.markSynced();
        return;
      case "apply":
        this.set(event.object);
        return;
      case "delete":
        this.remove(keyString(event.object.metadata));
        return;
    }
  }

  private set(object: StoredObject): void {
    const key = keyString(object.metadata);
    const before = this.flags.get(key) ?? 0;
    const flags = flagsOf(object);
    // Set in place, never deleted and added again: a Map that churns keys slows down.
    if (before !== flags || !this.flags.has(key)) this.flags.set(key, flags);
    this.notReady += (flags & NOT_READY) - (before & NOT_READY);
    this.terminating += ((flags & TERMINATING) - (before & TERMINATING)) / TERMINATING;
  }

  private remove(key: string): void {
    const flags = this.flags.get(key);
    if (flags === undefined) return;
    this.flags.delete(key);
    if (flags & NOT_READY) this.notReady--;
    if (flags & TERMINATING) this.terminating--;
  }
}

/** An event as the dashboard shows it; fields are read from the stored events.k8s.io/v1 Event. */
export function eventSummary(
  object: StoredObject,
  plural: (group: string, kind: string) => string | undefined,
): EventSummary {
  const event = object as unknown as Record<string, unknown>;
  const regarding = event.regarding as Record<string, string | undefined> | undefined;
  const series = event.series as { count?: number; lastObservedTime?: string } | undefined;
  const time =
    series?.lastObservedTime ??
    (event.deprecatedLastTimestamp as string | undefined) ??
    (event.eventTime as string | undefined) ??
    object.metadata.creationTimestamp;
  const apiVersion = regarding?.apiVersion ?? "";
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  // Events written as core v1 name their source's component instead.
  const reportingController =
    (event.reportingController as string | undefined) ||
    (event.deprecatedSource as { component?: string } | undefined)?.component ||
    undefined;
  return {
    type: String(event.type ?? "Normal"),
    reason: String(event.reason ?? ""),
    note: String(event.note ?? ""),
    ...(regarding?.name === undefined
      ? {}
      : {
          regarding: {
            group,
            version,
            kind: regarding.kind ?? "",
            ...(plural(group, regarding.kind ?? "") === undefined
              ? {}
              : { plural: plural(group, regarding.kind ?? "")! }),
            ...(regarding.namespace ? { namespace: regarding.namespace } : {}),
            name: regarding.name,
            ...(regarding.uid ? { uid: regarding.uid } : {}),
          },
        }),
    count: series?.count ?? (event.deprecatedCount as number | undefined) ?? 1,
    time: time === undefined ? 0 : Date.parse(time),
    ...(reportingController === undefined ? {} : { reportingController }),
  };
}

/** The counts of every kind the dashboard was asked about, and the Warning events. */
export class KindCounts {
  private readonly counts = new Map<string, KindCount>();
  private readonly runs = new Set<Promise<void>>();
  private readonly stops = new Set<AbortController>();
  private sweeping = false;
  /** Warning events by key, summarised as they arrive. */
  private readonly warnings = new Map<string, EventSummary>();
  private warningsStarted = false;

  constructor(
    private readonly backend: Backend,
    private readonly clock: Clock,
    private readonly signal: AbortSignal,
    /** The plural of a served kind, to link an event to the object it is about. */
    private readonly plural: (group: string, kind: string) => string | undefined,
  ) {}

  /** `kind`'s counts, watching it from now on; zeros until its first list arrives. */
  of(kind: AnyKind): KindCount {
    const id = kindId(kind);
    let count = this.counts.get(id);
    if (count === undefined) {
      const started = new KindCount();
      count = started;
      this.counts.set(id, started);
      this.start(kind, (event) => started.apply(event), started.stop);
      this.sweepLater();
    }
    count.askedAt = this.clock.now();
    return count;
  }

  /**
   * Starts counting `kinds` and resolves once each has its first list, or after `withinMs`
   * (a store that answers slowly: the counts then say `counted: false`).
   */
  async synced(kinds: readonly AnyKind[], withinMs: number): Promise<void> {
    const pending = kinds.map((kind) => this.of(kind)).filter((count) => !count.synced);
    if (pending.length === 0) return;
    let timer: Timer | undefined;
    await Promise.race([
      Promise.all(pending.map((count) => (count as KindCount).ready)),
      new Promise<void>((resolve) => {
        timer = this.clock.setTimer(withinMs, resolve);
      }),
    ]);
    timer?.cancel();
  }

  /** `kind`'s counts if they are kept now (without watching it, or keeping it watched). */
  peek(kind: AnyKind): { total: number; synced: boolean } | undefined {
    return this.counts.get(kindId(kind));
  }

  /** Stops the watches of kinds nobody asked about lately. */
  private sweepLater(): void {
    if (this.sweeping || this.signal.aborted) return;
    this.sweeping = true;
    this.clock.setTimer(COUNTS_IDLE_MS / 2, () => {
      this.sweeping = false;
      const now = this.clock.now();
      for (const [id, count] of this.counts)
        if (now - count.askedAt >= COUNTS_IDLE_MS) {
          count.stop.abort();
          this.counts.delete(id);
        }
      if (this.counts.size > 0) this.sweepLater();
    });
  }

  /** The latest Warning events (newest first), watching the Event kind from now on. */
  latestWarnings(eventKind: AnyKind, limit: number): EventSummary[] {
    if (!this.warningsStarted) {
      this.warningsStarted = true;
      this.start(eventKind, (event) => this.applyWarning(event), new AbortController());
    }
    return [...this.warnings.values()].sort((a, b) => b.time - a.time).slice(0, limit);
  }

  /** Resolves once every watch has stopped (after the signal aborts). */
  async stopped(): Promise<void> {
    await Promise.all([...this.runs]);
  }

  private applyWarning(event: CacheEvent): void {
    const isWarning = (object: StoredObject) =>
      (object as unknown as { type?: string }).type === "Warning";
    switch (event.type) {
      case "replace":
        this.warnings.clear();
        for (const object of event.items)
          if (isWarning(object))
            this.warnings.set(keyString(object.metadata), eventSummary(object, this.plural));
        return;
      case "apply":
        if (isWarning(event.object))
          this.warnings.set(
            keyString(event.object.metadata),
            eventSummary(event.object, this.plural),
          );
        else this.warnings.delete(keyString(event.object.metadata));
        return;
      case "delete":
        this.warnings.delete(keyString(event.object.metadata));
        return;
    }
  }

  private start(kind: AnyKind, emit: (event: CacheEvent) => void, stop: AbortController): void {
    if (this.signal.aborted) return;
    // Each watch stops through a signal of its own, all of them through one listener on the
    // server's: dozens of kinds must not pile listeners on one signal.
    if (this.stops.size === 0)
      this.signal.addEventListener("abort", () => {
        for (const each of this.stops) each.abort();
      });
    this.stops.add(stop);
    const watcher = new Watcher(this.backend, kind, emit, { clock: this.clock });
    const run: Promise<void> = watcher
      .run(stop.signal)
      .catch(() => {})
      .finally(() => {
        this.stops.delete(stop);
        this.runs.delete(run);
      });
    this.runs.add(run);
  }
}
