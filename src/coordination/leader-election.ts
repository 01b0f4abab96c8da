/**
 * Leader election over any Backend with a Lease object, after client-go's leaderelection:
 *
 * - A candidate reads the Lease every `retryPeriodMs` (jittered up to 1.2×). It takes the Lease
 *   when nobody holds it, or when the holder's record has not changed for the record's lease
 *   duration — measured on this process's monotonic clock from when it *saw* the record change,
 *   never from the timestamps in the object (other machines' wall clocks). Taking it is a
 *   compare-and-swap: an update carrying the `resourceVersion` read, so of two candidates one wins.
 * - The leader renews every `retryPeriodMs`; if no renewal succeeds for `renewDeadlineMs` it gives
 *   up leadership (its `signal` aborts) before anyone else can take the Lease
 *   (`leaseDurationMs` > `renewDeadlineMs`).
 * - `leaseTransitions` counts changes of holder: it is the fencing token of a term.
 * - `release()` hands the Lease back (empty holder, a one-second duration) so that a standby
 *   takes over within one retry period instead of waiting out the lease.
 *
 * A Lease edited into nonsense is treated safely: an empty holder is a free Lease; a duration
 * that is missing, zero or negative makes the record expired; its timestamps are never trusted.
 */

import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Backend, Fence, StoredObject } from "../backend/backend.js";
import { ApiError } from "../model/api-error.js";
import { type Clock, sleep, systemClock, timedOut, within } from "../model/clock.js";
import type { ObjectKey } from "../model/resource.js";
import { Lease } from "./lease.js";

/**
 * How a Lease is held, client-go's timings: shared by leader election, shards and the
 * controllers that shard. Checked as client-go checks them: `leaseDurationMs` >
 * `renewDeadlineMs` > 1.2 × `retryPeriodMs` (the jitter), all positive.
 */
export interface LeaseTiming {
  /** How long a holder's silence makes its Lease free to take. @default 15_000 */
  readonly leaseDurationMs?: number;
  /** How long a holder keeps trying to renew before it gives the Lease up. @default 10_000 */
  readonly renewDeadlineMs?: number;
  /** How often candidates try to acquire and holders renew. @default 2_000 */
  readonly retryPeriodMs?: number;
}

/** client-go's defaults: lease 15 s, renew deadline 10 s, retry 2 s. */
export const defaultLeaseTiming: Required<LeaseTiming> = Object.freeze({
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
});

/** `timing` with the defaults filled in. */
export function leaseTiming(timing: LeaseTiming): Required<LeaseTiming> {
  return {
    leaseDurationMs: timing.leaseDurationMs ?? defaultLeaseTiming.leaseDurationMs,
    renewDeadlineMs: timing.renewDeadlineMs ?? defaultLeaseTiming.renewDeadlineMs,
    retryPeriodMs: timing.retryPeriodMs ?? defaultLeaseTiming.retryPeriodMs,
  };
}

/** A candidate's identity when none is given: `<hostname>-<random>`. */
export function defaultIdentity(): string {
  return `${hostname()}-${randomUUID().slice(0, 8)}`;
}

/** Options of {@link LeaderElector}. */
export interface LeaderElectionOptions extends LeaseTiming {
  /** The Lease's name. */
  readonly name: string;
  /** The Lease's namespace. @default "default" */
  readonly namespace?: string;
  /** Who this candidate is; unique among candidates. @default `<hostname>-<random>` */
  readonly identity?: string;
  /** @default systemClock */
  readonly clock?: Clock;
}

/** What a leader holds while it leads. */
export interface Leadership {
  /** Aborts when leadership is lost (renewal failed past the deadline) or released. */
  readonly signal: AbortSignal;
  /** `leaseTransitions` when this term began: the fencing token of the term. */
  readonly fencingToken: number;
  /** The fence to attach to writes made for this term (see `WriteOptions.fence`). */
  readonly fence: Fence;
  /** Stops renewing and hands the Lease back, so that a standby takes over at once. */
  release(): Promise<void>;
}

const jitterFactor = 1.2;

/** Checks the options as client-go does, with its messages. */
function validate(options: Required<Omit<LeaderElectionOptions, "clock" | "namespace">>): void {
  const { leaseDurationMs, renewDeadlineMs, retryPeriodMs, name, identity } = options;
  if (!(leaseDurationMs > renewDeadlineMs))
    throw new RangeError(
      `leaseDurationMs (${leaseDurationMs}) must be greater than renewDeadlineMs (${renewDeadlineMs})`,
    );
  if (!(renewDeadlineMs > jitterFactor * retryPeriodMs))
    throw new RangeError(
      `renewDeadlineMs (${renewDeadlineMs}) must be greater than retryPeriodMs × ${jitterFactor} (${jitterFactor * retryPeriodMs})`,
    );
  if (!(leaseDurationMs > 0)) throw new RangeError("leaseDurationMs must be greater than zero");
  if (!(renewDeadlineMs > 0)) throw new RangeError("renewDeadlineMs must be greater than zero");
  if (!(retryPeriodMs > 0)) throw new RangeError("retryPeriodMs must be greater than zero");
  if (name === "") throw new RangeError("the Lease name must not be empty");
  if (identity === "") throw new RangeError("identity must not be empty");
}

/**
 * Elects one leader among candidates sharing a Lease (see the module comment).
 *
 * @example
 * ```ts
 * const elector = new LeaderElector(plane.backend, { name: "widgets-controller" });
 * const leadership = await elector.acquire(stop.signal);
 * if (leadership) {
 *   doLeaderWork(leadership.signal);
 *   await leadership.release();
 * }
 * ```
 */
export class LeaderElector {
  readonly identity: string;
  readonly key: ObjectKey;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly clock: Clock;
  /** The record last read, and when (monotonic) it was seen to change. */
  private observed: { record: string; at: number } | undefined;

  constructor(
    private readonly backend: Backend,
    options: LeaderElectionOptions,
  ) {
    const settings = {
      name: options.name,
      identity: options.identity ?? defaultIdentity(),
      ...leaseTiming(options),
    };
    validate(settings);
    this.identity = settings.identity;
    this.key = { namespace: options.namespace ?? "default", name: settings.name };
    this.leaseDurationMs = settings.leaseDurationMs;
    this.renewDeadlineMs = settings.renewDeadlineMs;
    this.retryPeriodMs = settings.retryPeriodMs;
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Campaigns until this candidate leads (then renews in the background), or until `signal`
   * aborts (then resolves with `undefined`).
   */
  async acquire(signal: AbortSignal): Promise<Leadership | undefined> {
    for (;;) {
      if (signal.aborted) return undefined;
      // A store that hangs (a frozen connection) holds up neither campaigning nor shutdown.
      const term = await within(
        this.clock,
        this.renewDeadlineMs,
        this.tryAcquireOrRenew(undefined).catch(() => undefined),
        signal,
      );
      if (term === timedOut) continue;
      if (term !== undefined) return this.lead(term);
      await sleep(
        this.clock,
        this.retryPeriodMs * (1 + (this.clock.random?.() ?? Math.random()) * (jitterFactor - 1)),
        signal,
      );
    }
  }

  /** One round of campaigning: leads now, or `undefined` when someone else holds the Lease. */
  async tryAcquire(): Promise<Leadership | undefined> {
    const term = await within(
      this.clock,
      this.renewDeadlineMs,
      this.tryAcquireOrRenew(undefined).catch(() => undefined),
    );
    return term === undefined || term === timedOut ? undefined : this.lead(term);
  }

  /**
   * Notes the Lease as read elsewhere (a shard set reads all its Leases each round), so that the
   * time since its record last changed is measured from the first sighting, not the first try.
   */
  observe(lease: StoredObject | undefined): void {
    if (lease === undefined) return;
    const record = lease.spec as Record<string, unknown>;
    const text = JSON.stringify([
      record.holderIdentity,
      record.leaseDurationSeconds,
      record.leaseTransitions,
      record.renewTime,
    ]);
    if (this.observed?.record !== text) this.observed = { record: text, at: this.clock.now() };
  }

  /** Who holds the Lease now, as far as the store says. */
  async holder(): Promise<string | undefined> {
    try {
      const lease = await this.backend.get(Lease, this.key);
      return (lease.spec as { holderIdentity?: string }).holderIdentity || undefined;
    } catch (error) {
      if (ApiError.is(error, "NotFound")) return undefined;
      throw error;
    }
  }

  private lead(transitions: number): Leadership {
    const lost = new AbortController();
    let renewedAt = this.clock.now();
    let stopped = false;
    const renewLoop = (async () => {
      while (!stopped) {
        await sleep(this.clock, this.retryPeriodMs, lost.signal);
        if (stopped || lost.signal.aborted) return;
        // Each attempt gets what is left of the renew deadline, as client-go's does: a renewal
        // that hangs (a frozen connection) ends leadership on time instead of never.
        const term = await within(
          this.clock,
          Math.max(0, renewedAt + this.renewDeadlineMs - this.clock.now()),
          this.tryAcquireOrRenew(transitions).catch(() => undefined),
          lost.signal,
        );
        if (stopped) return;
        if (term === transitions) renewedAt = this.clock.now();
        else if (
          term === timedOut ||
          term !== undefined ||
          this.clock.now() - renewedAt >= this.renewDeadlineMs
        ) {
          // Someone else's term, or no renewal for the renew deadline: leadership is over.
          lost.abort(new Error(`lost the lease ${this.key.namespace}/${this.key.name}`));
          return;
        }
      }
    })();
    const fence: Fence = { lease: this.key, holder: this.identity, transitions };
    return {
      signal: lost.signal,
      fencingToken: transitions,
      fence,
      release: async () => {
        stopped = true;
        const wasLeading = !lost.signal.aborted;
        lost.abort(new Error(`released the lease ${this.key.namespace}/${this.key.name}`));
        await renewLoop;
        // Bounded: a store that hangs must not hold up a shutdown. The Lease then expires.
        if (wasLeading)
          await within(
            this.clock,
            this.retryPeriodMs,
            this.giveBack(transitions).catch(() => {}),
          );
      },
    };
  }

  /**
   * One round of client-go's tryAcquireOrRenew: the term (`leaseTransitions`) this candidate
   * now holds, or `undefined` when someone else holds an unexpired Lease. When `renewing`, only
   * a renewal of that term counts.
   */
  private async tryAcquireOrRenew(renewing: number | undefined): Promise<number | undefined> {
    const now = this.clock.now();
    const wallNow = new Date(this.clock.wallNow()).toISOString();
    let lease: StoredObject | undefined;
    try {
      lease = await this.backend.get(Lease, this.key);
    } catch (error) {
      if (!ApiError.is(error, "NotFound")) throw error;
    }
    const spec = { durationSeconds: Math.ceil(this.leaseDurationMs / 1000) };
    if (lease === undefined) {
      if (renewing !== undefined) return -1; // the Lease vanished under the leader: over
      await this.backend.create(Lease, {
        metadata: { name: this.key.name, namespace: this.key.namespace },
        spec: {
          holderIdentity: this.identity,
          leaseDurationSeconds: spec.durationSeconds,
          acquireTime: wallNow,
          renewTime: wallNow,
          leaseTransitions: 0,
        },
      });
      this.observed = undefined;
      return 0;
    }
    const record = lease.spec as {
      holderIdentity?: string;
      leaseDurationSeconds?: number;
      leaseTransitions?: number;
      renewTime?: string;
      acquireTime?: string;
    };
    this.observe(lease);
    if (this.observed === undefined) this.observed = { record: "", at: now };
    const holder = record.holderIdentity ?? "";
    const transitions = record.leaseTransitions ?? 0;
    const mine = holder === this.identity;
    if (renewing !== undefined && (!mine || transitions !== renewing)) return -1;
    const durationMs = (record.leaseDurationSeconds ?? 0) * 1000;
    const expired =
      holder === "" ||
      !(durationMs > 0) ||
      !Number.isFinite(durationMs) ||
      now - this.observed.at >= durationMs;
    if (!mine && !expired) return undefined;
    const next = mine ? transitions : transitions + 1;
    // Compare-and-swap: the update carries the resourceVersion read.
    await this.backend.update(Lease, {
      ...lease,
      spec: {
        ...record,
        holderIdentity: this.identity,
        leaseDurationSeconds: spec.durationSeconds,
        acquireTime: mine ? (record.acquireTime ?? wallNow) : wallNow,
        renewTime: wallNow,
        leaseTransitions: next,
      },
    });
    return next;
  }

  /** Hands the Lease back if this term still holds it. */
  private async giveBack(transitions: number): Promise<void> {
    const lease = await this.backend.get(Lease, this.key);
    const record = lease.spec as { holderIdentity?: string; leaseTransitions?: number };
    if (record.holderIdentity !== this.identity || (record.leaseTransitions ?? 0) !== transitions)
      return;
    await this.backend.update(Lease, {
      ...lease,
      spec: {
        ...lease.spec,
        holderIdentity: "",
        leaseDurationSeconds: 1,
        renewTime: new Date(this.clock.wallNow()).toISOString(),
      },
    });
  }
}
