/**
 * Sharding: a fixed set of shard Leases shared by the live replicas of a controller, each holding
 * a fair share. A key's shard is a stable hash of the key (a child's events are mapped to its
 * controlling owner's key before they are queued, so children hash with their owner). A replica
 * reconciles only keys of shards it holds.
 *
 * Each shard is a Lease held exactly as a leader holds one (see leader-election.ts): taken by
 * compare-and-swap, renewed every retry period, given up — with the work of its keys aborted —
 * when renewals fail past the renew deadline, before anyone else may take it. Replicas announce
 * themselves with a member Lease each, renewed every retry period; a member whose Lease has not
 * changed for the lease duration is gone. Every retry period a replica aims at
 * ⌈shards ÷ live members⌉: it takes free or expired shards up to that, and hands back shards over
 * it only after the work of their keys has settled. So when a replica joins, dies or leaves,
 * shards move, and no two replicas reconcile one key at the same time.
 *
 * Caveat: "settled" assumes reconciles stop when their signal aborts. One that ignores it is
 * abandoned a second after the abort (as a timed-out reconcile is), and its shard is handed back
 * then, so that a stubborn reconcile cannot hold a shard, or a shutdown, forever; its late writes
 * may then overlap the new holder's.
 */

import type { Backend } from "../backend/backend.js";
import { ApiError } from "../model/api-error.js";
import { type Clock, sleep, systemClock, within } from "../model/clock.js";
import { fnv1a } from "../model/hash.js";
import {
  defaultIdentity,
  LeaderElector,
  type Leadership,
  type LeaseTiming,
  leaseTiming,
} from "./leader-election.js";
import { Lease } from "./lease.js";

/** Options of {@link ShardSet}; the shard and member Leases are held with its {@link LeaseTiming}. */
export interface ShardSetOptions extends LeaseTiming {
  /** Names the Leases: `<name>-shard-<i>` and `<name>-member-<identity>`. */
  readonly name: string;
  /** How many shards. */
  readonly count: number;
  /** The Leases' namespace. @default "default" */
  readonly namespace?: string;
  /** This replica; unique among replicas. @default `<hostname>-<random>` */
  readonly identity?: string;
  /** @default systemClock */
  readonly clock?: Clock;
}

/** What the owner of a ShardSet does when shards come and go. */
export interface ShardHooks {
  /** This replica now holds `shard`: reconcile its keys. */
  acquired(shard: number): void;
  /** `shard` is no longer this replica's: abort its keys' reconciles and resolve once settled. */
  released(shard: number): Promise<void>;
  /** A round failed (the store unreachable…); the next round tries again. */
  failed?(error: unknown): void;
}

/**
 * The hash of a key that picks its shard (`hashKey(key) % count`): FNV-1a, 32 bits, stable
 * across processes, versions and platforms.
 */
export const hashKey: (key: string) => number = fnv1a;

/**
 * An identity as part of an object name (lower-case letters, digits, '-' and '.'): identities
 * are free-form, names are not. A changed identity gets its hash appended, so two identities
 * that differ only in forbidden characters keep distinct names.
 */
function nameOf(identity: string): string {
  const slug = identity
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, "-")
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "")
    .slice(0, 180);
  return slug === identity ? slug : `${slug || "member"}-${hashKey(identity).toString(36)}`;
}

/**
 * One replica's part in a set of shards (see the module comment).
 *
 * @example
 * ```ts
 * const shards = new ShardSet(plane.backend, { name: "widgets", count: 12 });
 * void shards.run(signal, { acquired: (s) => …, released: async (s) => … });
 * if (shards.holds("shop/front")) …
 * ```
 */
export class ShardSet {
  readonly identity: string;
  readonly count: number;
  private readonly held = new Map<number, Leadership>();
  private readonly electors: LeaderElector[];
  private readonly member: { namespace: string; name: string };
  private readonly namespace: string;
  private readonly clock: Clock;
  private readonly timing: Required<LeaseTiming>;
  /** The run is over: a round still going gives back what it takes. */
  private stopping = false;
  /** Other members' records, and when (monotonic) each was seen to change. */
  private readonly seen = new Map<string, { record: string; at: number }>();

  constructor(
    private readonly backend: Backend,
    private readonly options: ShardSetOptions,
  ) {
    if (!Number.isSafeInteger(options.count) || options.count < 1)
      throw new RangeError(`shard count (${options.count}) must be a positive integer`);
    this.identity = options.identity ?? defaultIdentity();
    this.count = options.count;
    this.namespace = options.namespace ?? "default";
    this.clock = options.clock ?? systemClock;
    this.timing = leaseTiming(options);
    this.electors = Array.from(
      { length: this.count },
      (_, shard) =>
        new LeaderElector(backend, {
          name: `${options.name}-shard-${shard}`,
          namespace: this.namespace,
          identity: this.identity,
          clock: this.clock,
          ...this.timing,
        }),
    );
    this.member = {
      namespace: this.namespace,
      name: `${options.name}-member-${nameOf(this.identity)}`,
    };
  }

  /** The shard of `key`. */
  shardOf(key: string): number {
    return hashKey(key) % this.count;
  }

  /** Whether this replica holds the shard of `key` now. */
  holds(key: string): boolean {
    return this.held.has(this.shardOf(key));
  }

  /** The shards held now. */
  get shards(): number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  /** Takes part until `signal` aborts; then settles and hands back every shard held. */
  async run(signal: AbortSignal, hooks: ShardHooks): Promise<void> {
    this.stopping = false;
    while (!signal.aborted) {
      // A round waits on the store; one that hangs (a frozen connection) must not hold up the
      // end of the run: it is left to finish on its own, and gives back what it takes late.
      await within(
        this.clock,
        this.timing.renewDeadlineMs,
        this.round(hooks).catch((error: unknown) => hooks.failed?.(error)),
        signal,
      );
      await sleep(this.clock, this.timing.retryPeriodMs, signal);
    }
    this.stopping = true;
    await Promise.all(this.shards.map((shard) => this.handBack(shard, hooks)));
    await within(
      this.clock,
      this.timing.retryPeriodMs,
      this.backend.delete(Lease, this.member).catch(() => {}),
    );
  }

  /** One round: announce this member, count the live ones, take or hand back shards. */
  private async round(hooks: ShardHooks): Promise<void> {
    await this.announce();
    const live = await this.liveMembers();
    const target = Math.ceil(this.count / live);
    // Hand back what is over the fair share (its keys' work settles first).
    for (const shard of this.shards.slice(target)) await this.handBack(shard, hooks);
    if (this.held.size >= target) return;
    // Take free or expired shards, starting at a place of this member's own.
    const start = hashKey(this.identity) % this.count;
    for (let i = 0; i < this.count && this.held.size < target; i++) {
      const shard = (start + i) % this.count;
      if (this.held.has(shard)) continue;
      const leadership = await this.electors[shard]!.tryAcquire();
      if (leadership === undefined) continue;
      if (this.stopping) {
        // Taken by a round that outlived its run: hand it back at once.
        await leadership.release();
        continue;
      }
      this.held.set(shard, leadership);
      leadership.signal.addEventListener("abort", () => {
        // Lost, not handed back: stop its work at once.
        if (this.held.get(shard) === leadership) {
          this.held.delete(shard);
          void hooks.released(shard);
        }
      });
      hooks.acquired(shard);
    }
  }

  private async handBack(shard: number, hooks: ShardHooks): Promise<void> {
    const leadership = this.held.get(shard);
    if (leadership === undefined) return;
    this.held.delete(shard);
    await hooks.released(shard);
    await leadership.release();
  }

  private async announce(): Promise<void> {
    const spec = {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.timing.leaseDurationMs / 1000),
      renewTime: new Date(this.clock.wallNow()).toISOString(),
    };
    try {
      const current = await this.backend.get(Lease, this.member);
      await this.backend.update(Lease, { ...current, spec: { ...current.spec, ...spec } });
    } catch (error) {
      if (!ApiError.is(error, "NotFound")) throw error;
      await this.backend.create(Lease, {
        metadata: {
          ...this.member,
          labels: { "setpoint.dev/shard-set": this.options.name },
        },
        spec,
      });
    }
  }

  /**
   * This member and every other whose member Lease changed within the lease duration. Reads the
   * shard Leases too, so that each is watched for silence from the first round, not from the
   * first try to take it.
   */
  private async liveMembers(): Promise<number> {
    const now = this.clock.now();
    const { items } = await this.backend.list(Lease, { namespace: this.namespace });
    const shardPrefix = `${this.options.name}-shard-`;
    let live = 1;
    for (const lease of items) {
      const name = lease.metadata.name;
      if (name.startsWith(shardPrefix)) {
        this.electors[Number(name.slice(shardPrefix.length))]?.observe(lease);
        continue;
      }
      if (lease.metadata.labels?.["setpoint.dev/shard-set"] !== this.options.name) continue;
      if (name === this.member.name) continue;
      const record = JSON.stringify(lease.spec);
      const seen = this.seen.get(lease.metadata.name);
      if (seen?.record !== record) this.seen.set(lease.metadata.name, { record, at: now });
      const at = this.seen.get(lease.metadata.name)!.at;
      // A member first seen counts as live until it has been silent for the lease duration.
      if (now - at < this.timing.leaseDurationMs) live++;
    }
    return live;
  }
}
