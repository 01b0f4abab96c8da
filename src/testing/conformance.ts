/**
 * The backend conformance suite: every rule of the Backend contract (`src/backend/backend.ts`),
 * written against the contract alone so that every store — memory, durable, PostgreSQL,
 * Kubernetes — runs the same checks. Run it from a vitest test file.
 */
import type { StandardSchemaV1 } from "@standard-schema/spec";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import type { Backend, ObjectList, StoredObject, Watch, WatchEvent } from "../backend/backend.js";
import { Lease } from "../coordination/lease.js";
import { ApiError } from "../model/api-error.js";
import { type AnyKind, defineKind } from "../model/kind.js";
import type { ObjectKey } from "../model/resource.js";
import { eventually, withDeadline } from "./eventually.js";

/** Hooks a backend may offer the suite; checks that need a missing hook are left out. */
export interface ConformanceOptions {
  /**
   * Drops the backend's kept history so that resuming from any earlier revision is `Expired`
   * (etcd's compaction; `MemoryBackend.compact()`).
   */
  readonly compact?: (backend: Backend) => void | Promise<void>;
  /** Tears down what `makeBackend` started, after `backend.close()`. */
  readonly cleanup?: (backend: Backend) => void | Promise<void>;
  /** How long to wait for an asynchronous effect (watch events, garbage collection). @default 5_000 */
  readonly timeoutMs?: number;
  /** Whether the backend checks `WriteOptions.fence` (the Kubernetes backend cannot). @default true */
  readonly fencing?: boolean;
  /**
   * Makes the backend's commits fail from now on, after a write was checked and made — as a
   * full disk does, or a constraint checked at `COMMIT` — and resolves to what undoes it (which
   * may do nothing). The checks that a failed commit serves nothing are left out without it (a
   * memory store has no commit that can fail). After a failed commit a backend either refuses
   * every call with `ServiceUnavailable` (the durable store: its memory holds changes its disk
   * does not) or, once commits succeed again, carries on without a trace of the failed write.
   */
  readonly failCommits?: (backend: Backend) => Promise<() => void | Promise<void>>;
  /**
   * Whether a watch from a revision beyond the store's fails with `Timeout` (504) "Too large
   * resource version", as kube-apiserver answers it. The Kubernetes backend retries a watch's
   * 5xx answers instead, so its callers see such a watch wait. @default true
   */
  readonly refusesFutureWatches?: boolean;
}

const ledgerSpec = z.object({ entries: z.number().int().min(0) });

/** A Standard Schema validator that answers asynchronously, as a remote check would. */
const asyncLedgerSpec: StandardSchemaV1<z.input<typeof ledgerSpec>, z.output<typeof ledgerSpec>> = {
  "~standard": {
    version: 1,
    vendor: "setpoint-conformance",
    validate: async (value) => {
      await new Promise((resolve) => setImmediate(resolve));
      return ledgerSpec["~standard"].validate(value);
    },
  },
};

/** The kinds the suite writes; a backend that needs kinds registered up front registers these. */
export const conformanceKinds = {
  Widget: defineKind({
    group: "conformance.setpoint.dev",
    version: "v1",
    kind: "Widget",
    scope: "Namespaced",
    spec: z.object({
      replicas: z.number().int().min(0),
      image: z.string().default("nginx"),
      tags: z.array(z.string()).optional(),
      blob: z.string().optional(),
    }),
    status: z.object({ readyReplicas: z.number().int().optional(), phase: z.string().optional() }),
  }),
  Gadget: defineKind({
    group: "conformance.setpoint.dev",
    version: "v1",
    kind: "Gadget",
    scope: "Namespaced",
    spec: z.object({ size: z.number() }),
  }),
  /** Validated asynchronously: writes must stay atomic across the validator's await. */
  Ledger: defineKind({
    group: "conformance.setpoint.dev",
    version: "v1",
    kind: "Ledger",
    scope: "Namespaced",
    spec: asyncLedgerSpec,
  }),
  /** Its fields sit at the top level, as Kubernetes' Event and ConfigMap have them. */
  Note: defineKind({
    group: "conformance.setpoint.dev",
    version: "v1",
    kind: "Note",
    scope: "Namespaced",
    layout: "flat",
    spec: z.object({ text: z.string(), tags: z.array(z.string()).default([]) }),
    status: z.object({ read: z.boolean().optional() }),
  }),
  Rack: defineKind({
    group: "conformance.setpoint.dev",
    version: "v1",
    kind: "Rack",
    scope: "Cluster",
    spec: z.object({ slots: z.number().int() }),
  }),
} as const;

const { Widget, Gadget, Ledger, Note, Rack } = conformanceKinds;
const ns = "conformance";

function widget(
  name: string,
  spec: Record<string, unknown> = { replicas: 1 },
  metadata: Record<string, unknown> = {},
) {
  return {
    apiVersion: Widget.apiVersion,
    kind: Widget.kind,
    metadata: { name, namespace: ns, ...metadata },
    spec,
  };
}

function key(name: string): ObjectKey {
  return { namespace: ns, name };
}

function clusterKey(name: string): ObjectKey {
  return { name };
}

async function rejection(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw new Error(`expected an ApiError, got ${String(err)}`);
  }
  throw new Error("expected the call to fail, but it succeeded");
}

function isDeepFrozen(value: unknown): boolean {
  if (value === null || typeof value !== "object") return true;
  if (!Object.isFrozen(value)) return false;
  return Object.values(value).every(isDeepFrozen);
}

function ownerRef(owner: StoredObject, controller = true) {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller,
  };
}

/**
 * Registers the conformance suite for a backend with vitest. `makeBackend` is called before
 * each test for a fresh, empty store.
 *
 * @example
 * ```ts
 * import { runBackendConformance } from "setpoint/testing/conformance";
 * import { MemoryBackend } from "setpoint";
 *
 * runBackendConformance("memory", () => new MemoryBackend(), { compact: (b) => (b as MemoryBackend).compact() });
 * ```
 */
export function runBackendConformance(
  name: string,
  makeBackend: () => Backend | Promise<Backend>,
  options: ConformanceOptions = {},
): void {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const within = { timeoutMs };

  describe(`backend conformance: ${name}`, () => {
    let backend: Backend;
    const watches: Watch[] = [];
    /** Stores a test made besides `backend` (see `restartedStore`). */
    const others: Backend[] = [];

    beforeEach(async () => {
      backend = await makeBackend();
    });

    afterEach(async () => {
      for (const watch of watches.splice(0)) watch.close();
      const all = [backend, ...others.splice(0)];
      for (const store of all) await store.close();
      for (const store of all) await options.cleanup?.(store);
    });

    /**
     * Another fresh store, whose revisions begin where `backend`'s began: what a memory store
     * is after a restart, to a client holding a revision or a token from before it.
     */
    async function restartedStore(): Promise<Backend> {
      const store = await makeBackend();
      others.push(store);
      return store;
    }

    function watch(kind: AnyKind, watchOptions: Parameters<Backend["watch"]>[1] = {}): Watch {
      const w = backend.watch(kind, watchOptions);
      watches.push(w);
      return w;
    }

    async function take(w: Watch, count: number, skipBookmarks = true): Promise<WatchEvent[]> {
      const events: WatchEvent[] = [];
      while (events.length < count) {
        const next = await withDeadline(
          w.next(),
          timeoutMs,
          `watch event ${events.length + 1} of ${count}`,
        );
        if (next.done) throw new Error(`the watch ended after ${events.length} of ${count} events`);
        if (skipBookmarks && next.value.type === "BOOKMARK") continue;
        events.push(next.value);
      }
      return events;
    }

    /** Writes a marker object and reads up to it, proving nothing else arrived before it. */
    async function expectNoMoreEvents(w: Watch, kind: AnyKind = Widget): Promise<void> {
      const marker = await backend.create(kind, {
        metadata: {
          name: `marker-${Math.random().toString(36).slice(2, 8)}`,
          namespace: kind.scope === "Cluster" ? undefined : ns,
        },
        spec: kind === Rack ? { slots: 0 } : kind === Gadget ? { size: 0 } : { replicas: 0 },
      });
      const [event] = await take(w, 1);
      expect(event?.type === "BOOKMARK" ? undefined : event?.object.metadata.name).toBe(
        marker.metadata.name,
      );
    }

    describe("create", () => {
      it("sets uid, creationTimestamp, generation 1 and a resourceVersion", async () => {
        const created = await backend.create(Widget, widget("a"));
        expect(created.metadata.uid).toMatch(/.{8,}/);
        expect(Date.parse(created.metadata.creationTimestamp)).not.toBeNaN();
        expect(created.metadata.generation).toBe(1);
        expect(created.metadata.resourceVersion).toMatch(/.+/);
        expect(created.apiVersion).toBe(Widget.apiVersion);
        expect(created.kind).toBe("Widget");
        expect(await backend.get(Widget, key("a"))).toEqual(created);
      });

      it("applies the schema's defaults to the stored spec", async () => {
        const created = await backend.create(Widget, widget("a", { replicas: 2 }));
        expect(created.spec).toEqual({ replicas: 2, image: "nginx" });
      });

      it("ignores server-set metadata sent by the writer", async () => {
        const created = await backend.create(
          Widget,
          widget(
            "a",
            { replicas: 1 },
            {
              uid: "mine",
              generation: 7,
              resourceVersion: "999",
              creationTimestamp: "2000-01-01T00:00:00Z",
            },
          ),
        );
        expect(created.metadata.uid).not.toBe("mine");
        expect(created.metadata.generation).toBe(1);
        expect(created.metadata.creationTimestamp).not.toBe("2000-01-01T00:00:00Z");
      });

      it("does not write status: it is written through the status subresource", async () => {
        const created = await backend.create(Widget, {
          ...widget("a"),
          status: { readyReplicas: 3 },
        });
        expect(created.status).toBeUndefined();
      });

      it("fails with AlreadyExists on a taken key and changes nothing", async () => {
        const first = await backend.create(Widget, widget("a", { replicas: 1 }));
        const err = await rejection(backend.create(Widget, widget("a", { replicas: 2 })));
        expect(err.reason).toBe("AlreadyExists");
        expect(err.code).toBe(409);
        expect(await backend.get(Widget, key("a"))).toEqual(first);
      });

      it("allows the same name in another namespace and another kind", async () => {
        await backend.create(Widget, widget("a"));
        await backend.create(Widget, {
          ...widget("a"),
          metadata: { name: "a", namespace: "other" },
        });
        await backend.create(Gadget, { metadata: { name: "a", namespace: ns }, spec: { size: 1 } });
        expect((await backend.list(Widget)).items).toHaveLength(2);
        expect((await backend.list(Gadget)).items).toHaveLength(1);
      });

      it("picks distinct free names from generateName", async () => {
        const names = new Set<string>();
        for (let i = 0; i < 20; i++) {
          const created = await backend.create(Widget, {
            metadata: { generateName: "job-", namespace: ns },
            spec: { replicas: 1 },
          });
          expect(created.metadata.name).toMatch(/^job-[a-z0-9]{5}$/);
          expect(created.metadata.generateName).toBe("job-");
          names.add(created.metadata.name);
        }
        expect(names.size).toBe(20);
      });

      it("hands out deeply frozen objects and leaves the writer's object alone", async () => {
        const input = widget("a", { replicas: 1, tags: ["x"] }, { labels: { app: "shop" } });
        const created = await backend.create(Widget, input);
        expect(isDeepFrozen(created)).toBe(true);
        expect(isDeepFrozen(await backend.get(Widget, key("a")))).toBe(true);
        expect((await backend.list(Widget)).items.every(isDeepFrozen)).toBe(true);
        expect(Object.isFrozen(input)).toBe(false);
        input.spec.replicas = 5;
        (input.spec.tags as string[]).push("y");
        expect((await backend.get(Widget, key("a"))).spec).toEqual({
          replicas: 1,
          image: "nginx",
          tags: ["x"],
        });
      });

      it("keeps cluster-scoped objects without a namespace", async () => {
        const rack = await backend.create(Rack, { metadata: { name: "r1" }, spec: { slots: 4 } });
        expect(rack.metadata.namespace).toBeUndefined();
        expect((await backend.get(Rack, clusterKey("r1"))).spec).toEqual({ slots: 4 });
        const err = await rejection(
          backend.create(Rack, { metadata: { name: "r2", namespace: ns }, spec: { slots: 1 } }),
        );
        expect(err.reason).toBe("Invalid");
        expect(err.details?.causes?.[0]?.field).toBe("metadata.namespace");
      });
    });

    describe("get", () => {
      it("fails with NotFound for a missing object", async () => {
        const err = await rejection(backend.get(Widget, key("missing")));
        expect(err.reason).toBe("NotFound");
        expect(err.code).toBe(404);
        expect(err.message).toContain("missing");
      });
    });

    describe("update", () => {
      it("fails with Conflict on a stale resourceVersion and changes nothing", async () => {
        const v1 = await backend.create(Widget, widget("a", { replicas: 1 }));
        const v2 = await backend.update(Widget, { ...v1, spec: { ...v1.spec, replicas: 2 } });
        const err = await rejection(
          backend.update(Widget, { ...v1, spec: { ...v1.spec, replicas: 3 } }),
        );
        expect(err.reason).toBe("Conflict");
        expect(err.code).toBe(409);
        expect(err.retryable).toBe(true);
        expect(await backend.get(Widget, key("a"))).toEqual(v2);
      });

      it("fails with Invalid when resourceVersion is missing", async () => {
        const v1 = await backend.create(Widget, widget("a"));
        const err = await rejection(
          backend.update(Widget, {
            ...v1,
            metadata: { ...v1.metadata, resourceVersion: undefined },
          }),
        );
        expect(err.reason).toBe("Invalid");
        expect(err.details?.causes?.map((c) => c.field)).toContain("metadata.resourceVersion");
      });

      it("fails with NotFound for a missing object", async () => {
        const err = await rejection(
          backend.update(Widget, widget("missing", { replicas: 1 }, { resourceVersion: "1" })),
        );
        expect(err.reason).toBe("NotFound");
      });

      it("gives every write a new resourceVersion", async () => {
        const v1 = await backend.create(Widget, widget("a"));
        const v2 = await backend.update(Widget, { ...v1, spec: { ...v1.spec, replicas: 2 } });
        const v3 = await backend.update(Widget, {
          ...v2,
          metadata: { ...v2.metadata, labels: { a: "b" } },
        });
        expect(new Set([v1, v2, v3].map((v) => v.metadata.resourceVersion)).size).toBe(3);
      });

      it("increments generation on spec changes only", async () => {
        const v1 = await backend.create(Widget, widget("a", { replicas: 1 }));
        const v2 = await backend.update(Widget, {
          ...v1,
          metadata: { ...v1.metadata, labels: { tier: "web" }, annotations: { note: "x" } },
        });
        expect(v2.metadata.generation).toBe(1);
        const v3 = await backend.update(Widget, { ...v2, spec: { ...v2.spec, replicas: 2 } });
        expect(v3.metadata.generation).toBe(2);
        const v4 = await backend.updateStatus(Widget, { ...v3, status: { readyReplicas: 2 } });
        expect(v4.metadata.generation).toBe(2);
      });

      it("never changes status", async () => {
        const v1 = await backend.create(Widget, widget("a"));
        const v2 = await backend.updateStatus(Widget, { ...v1, status: { readyReplicas: 1 } });
        const v3 = await backend.update(Widget, {
          ...v2,
          spec: { ...v2.spec, replicas: 4 },
          status: { readyReplicas: 99 },
        });
        expect(v3.status).toEqual({ readyReplicas: 1 });
        expect(v3.spec.replicas).toBe(4);
      });

      it("keeps creationTimestamp and generation whatever the writer sends", async () => {
        const v1 = await backend.create(Widget, widget("a"));
        const v2 = await backend.update(Widget, {
          ...v1,
          metadata: { ...v1.metadata, generation: 40, creationTimestamp: "2000-01-01T00:00:00Z" },
          spec: { replicas: 2 },
        });
        expect(v2.metadata.uid).toBe(v1.metadata.uid);
        expect(v2.metadata.generation).toBe(2);
        expect(v2.metadata.creationTimestamp).toBe(v1.metadata.creationTimestamp);
      });

      it("treats a uid in the object as a precondition", async () => {
        const v1 = await backend.create(Widget, widget("a"));
        const err = await rejection(
          backend.update(Widget, {
            ...v1,
            metadata: { ...v1.metadata, uid: "someone-else" },
            spec: { replicas: 2 },
          }),
        );
        expect(err.reason).toBe("Conflict");
      });

      it("makes no new revision and no event for a write that changes nothing", async () => {
        const v1 = await backend.create(Widget, widget("a"));
        const w = watch(Widget, { resourceVersion: v1.metadata.resourceVersion });
        const same = await backend.update(Widget, { ...v1 });
        expect(same.metadata.resourceVersion).toBe(v1.metadata.resourceVersion);
        const sameStatus = await backend.updateStatus(Widget, { ...v1 });
        expect(sameStatus.metadata.resourceVersion).toBe(v1.metadata.resourceVersion);
        await expectNoMoreEvents(w);
      });
    });

    describe("updateStatus", () => {
      it("changes status and nothing else", async () => {
        const v1 = await backend.create(
          Widget,
          widget("a", { replicas: 1 }, { labels: { a: "1" } }),
        );
        const v2 = await backend.updateStatus(Widget, {
          ...v1,
          metadata: { ...v1.metadata, labels: { a: "2" } },
          spec: { ...v1.spec, replicas: 9 },
          status: { readyReplicas: 1, phase: "Running" },
        });
        expect(v2.status).toEqual({ readyReplicas: 1, phase: "Running" });
        expect(v2.spec.replicas).toBe(1);
        expect(v2.metadata.labels).toEqual({ a: "1" });
        expect(v2.metadata.resourceVersion).not.toBe(v1.metadata.resourceVersion);
      });

      it("fails with Conflict on a stale resourceVersion", async () => {
        const v1 = await backend.create(Widget, widget("a"));
        await backend.updateStatus(Widget, { ...v1, status: { readyReplicas: 1 } });
        const err = await rejection(
          backend.updateStatus(Widget, { ...v1, status: { readyReplicas: 2 } }),
        );
        expect(err.reason).toBe("Conflict");
      });

      it("validates status against the kind's status schema", async () => {
        const v1 = await backend.create(Widget, widget("a"));
        const err = await rejection(
          backend.updateStatus(Widget, { ...v1, status: { readyReplicas: "many" } }),
        );
        expect(err.reason).toBe("Invalid");
        expect(err.details?.causes?.[0]?.field).toBe("status.readyReplicas");
      });
    });

    describe("patch", () => {
      it("applies a JSON merge patch; null removes a field", async () => {
        await backend.create(
          Widget,
          widget("a", { replicas: 1, tags: ["x"] }, { labels: { a: "1", b: "2" } }),
        );
        const patched = await backend.patch(Widget, key("a"), {
          type: "merge",
          patch: { metadata: { labels: { b: null, c: "3" } }, spec: { replicas: 2, tags: null } },
        });
        expect(patched.metadata.labels).toEqual({ a: "1", c: "3" });
        expect(patched.spec).toEqual({ replicas: 2, image: "nginx" });
        expect(patched.metadata.generation).toBe(2);
      });

      it("applies a strategic merge patch to a built-in kind: maps merge, finalizers merge as a set", async () => {
        await backend.create(Lease, {
          metadata: {
            name: "smp",
            namespace: ns,
            labels: { a: "1", b: "2" },
            finalizers: ["example.com/one"],
          },
          spec: { holderIdentity: "a", leaseDurationSeconds: 15 },
        });
        const patched = await backend.patch(Lease, key("smp"), {
          type: "strategic",
          patch: {
            metadata: { labels: { b: null, c: "3" }, finalizers: ["example.com/two"] },
            spec: { holderIdentity: "b" },
          },
        });
        expect(patched.metadata.labels).toEqual({ a: "1", c: "3" });
        expect(patched.metadata.finalizers).toEqual(["example.com/two", "example.com/one"]);
        expect(patched.spec).toEqual({ holderIdentity: "b", leaseDurationSeconds: 15 });
        // What kubectl apply sends to take a finalizer out: the order, and what to delete.
        const pruned = await backend.patch(Lease, key("smp"), {
          type: "strategic",
          patch: {
            metadata: {
              "$setElementOrder/finalizers": ["example.com/one"],
              "$deleteFromPrimitiveList/finalizers": ["example.com/two"],
            },
          },
        });
        expect(pruned.metadata.finalizers).toEqual(["example.com/one"]);
        const cleared = await backend.patch(Lease, key("smp"), {
          type: "strategic",
          patch: { metadata: { finalizers: null } },
        });
        expect(cleared.metadata.finalizers).toBeUndefined();
      });

      it("refuses a strategic merge patch of a custom resource as UnsupportedMediaType", async () => {
        const v1 = await backend.create(Widget, widget("a"));
        const err = await rejection(
          backend.patch(Widget, key("a"), { type: "strategic", patch: { spec: { replicas: 2 } } }),
        );
        expect(err.reason).toBe("UnsupportedMediaType");
        expect(err.code).toBe(415);
        expect(await backend.get(Widget, key("a"))).toEqual(v1);
      });

      it("applies a JSON patch whose test holds", async () => {
        await backend.create(Widget, widget("a", { replicas: 1, tags: ["x"] }));
        const patched = await backend.patch(Widget, key("a"), {
          type: "json",
          patch: [
            { op: "test", path: "/spec/replicas", value: 1 },
            { op: "replace", path: "/spec/replicas", value: 3 },
            { op: "add", path: "/spec/tags/-", value: "y" },
          ],
        });
        expect(patched.spec).toEqual({ replicas: 3, image: "nginx", tags: ["x", "y"] });
      });

      it("rejects a JSON patch whose test fails and changes nothing", async () => {
        const v1 = await backend.create(Widget, widget("a", { replicas: 1 }));
        const err = await rejection(
          backend.patch(Widget, key("a"), {
            type: "json",
            patch: [
              { op: "replace", path: "/spec/replicas", value: 5 },
              { op: "test", path: "/spec/replicas", value: 1 },
            ],
          }),
        );
        expect(err.reason).toBe("Invalid");
        expect(err.message).toContain("test");
        expect(await backend.get(Widget, key("a"))).toEqual(v1);
      });

      it("rejects a JSON patch on a path that does not exist", async () => {
        await backend.create(Widget, widget("a"));
        const err = await rejection(
          backend.patch(Widget, key("a"), {
            type: "json",
            patch: [{ op: "remove", path: "/spec/nothing/here" }],
          }),
        );
        expect(["Invalid", "UnprocessableEntity", "BadRequest"]).toContain(err.reason);
      });

      it("rejects a patch that breaks the schema, naming the field", async () => {
        const v1 = await backend.create(Widget, widget("a"));
        const err = await rejection(
          backend.patch(Widget, key("a"), { type: "merge", patch: { spec: { replicas: -1 } } }),
        );
        expect(err.reason).toBe("Invalid");
        expect(err.details?.causes?.[0]?.field).toBe("spec.replicas");
        expect(await backend.get(Widget, key("a"))).toEqual(v1);
      });

      it("is preconditioned on a resourceVersion it names", async () => {
        const v1 = await backend.create(Widget, widget("a"));
        await backend.patch(Widget, key("a"), { type: "merge", patch: { spec: { replicas: 2 } } });
        const err = await rejection(
          backend.patch(Widget, key("a"), {
            type: "merge",
            patch: {
              metadata: { resourceVersion: v1.metadata.resourceVersion },
              spec: { replicas: 3 },
            },
          }),
        );
        expect(err.reason).toBe("Conflict");
        expect((await backend.get(Widget, key("a"))).spec.replicas).toBe(2);
      });

      it("fails with NotFound for a missing object", async () => {
        const err = await rejection(
          backend.patch(Widget, key("missing"), {
            type: "merge",
            patch: { spec: { replicas: 2 } },
          }),
        );
        expect(err.reason).toBe("NotFound");
      });

      it("patches only status through the status subresource, and ignores status otherwise", async () => {
        await backend.create(Widget, widget("a"));
        const statusPatched = await backend.patch(
          Widget,
          key("a"),
          { type: "merge", patch: { spec: { replicas: 7 }, status: { phase: "Ready" } } },
          { subresource: "status" },
        );
        expect(statusPatched.status).toEqual({ phase: "Ready" });
        expect(statusPatched.spec.replicas).toBe(1);
        const mainPatched = await backend.patch(Widget, key("a"), {
          type: "merge",
          patch: { spec: { replicas: 7 }, status: { phase: "Broken" } },
        });
        expect(mainPatched.status).toEqual({ phase: "Ready" });
        expect(mainPatched.spec.replicas).toBe(7);
      });

      it("applies: creates a missing object, then merges into it, removing what the manager left out", async () => {
        const created = await backend.patch(Widget, key("a"), {
          type: "apply",
          patch: widget("a", { replicas: 1 }, { labels: { a: "1" } }),
          fieldManager: "test",
        });
        expect(created.spec).toEqual({ replicas: 1, image: "nginx" });
        const applied = await backend.patch(Widget, key("a"), {
          type: "apply",
          patch: {
            apiVersion: Widget.apiVersion,
            kind: "Widget",
            metadata: { name: "a", labels: { b: "2" } },
            spec: { replicas: 2 },
          },
          fieldManager: "test",
        });
        expect(applied.metadata.uid).toBe(created.metadata.uid);
        expect(applied.spec.replicas).toBe(2);
        // Label "a" was this manager's alone, and it applies it no more.
        expect(applied.metadata.labels).toEqual({ b: "2" });
        const again = await backend.patch(Widget, key("a"), {
          type: "apply",
          patch: {
            apiVersion: Widget.apiVersion,
            kind: "Widget",
            metadata: { name: "a", labels: { b: "2" } },
            spec: { replicas: 2 },
          },
          fieldManager: "test",
        });
        expect(again.metadata.resourceVersion).toBe(applied.metadata.resourceVersion);
      });

      it("keeps patching correct under concurrent patches to one object", async () => {
        await backend.create(Widget, widget("a", { replicas: 0 }));
        await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            backend.patch(Widget, key("a"), {
              type: "merge",
              patch: { metadata: { labels: { [`l${i}`]: "x" } } },
            }),
          ),
        );
        expect(
          Object.keys((await backend.get(Widget, key("a"))).metadata.labels ?? {}),
        ).toHaveLength(20);
      });
    });

    describe("server-side apply and field ownership", () => {
      /** The Kubernetes backend drops managedFields from what it hands out; the server keeps them. */
      const showsManagedFields = () => backend.capabilities.name !== "kubernetes";

      function applyWidget(
        manager: string,
        spec: Record<string, unknown>,
        extra: { labels?: Record<string, string>; force?: boolean } = {},
      ) {
        return backend.patch(Widget, key("w"), {
          type: "apply",
          fieldManager: manager,
          ...(extra.force ? { force: true } : {}),
          patch: {
            apiVersion: Widget.apiVersion,
            kind: "Widget",
            metadata: { name: "w", ...(extra.labels ? { labels: extra.labels } : {}) },
            spec,
          },
        });
      }

      it("records the applier's fields in metadata.managedFields", async () => {
        const applied = await applyWidget(
          "alice",
          { replicas: 2, tags: ["x"] },
          { labels: { app: "w" } },
        );
        expect(applied.spec).toEqual({ replicas: 2, tags: ["x"], image: "nginx" });
        if (!showsManagedFields()) return;
        expect(applied.metadata.managedFields).toEqual([
          {
            manager: "alice",
            operation: "Apply",
            apiVersion: Widget.apiVersion,
            time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
            fieldsType: "FieldsV1",
            fieldsV1: {
              "f:metadata": { "f:labels": { "f:app": {} } },
              "f:spec": { "f:replicas": {}, "f:tags": {} },
            },
          },
        ]);
        expect((await backend.get(Widget, key("w"))).metadata.managedFields).toEqual(
          applied.metadata.managedFields,
        );
      });

      it("removes a field the manager applied before and leaves out now, unless another manager owns it", async () => {
        await applyWidget(
          "alice",
          { replicas: 2, tags: ["x"] },
          { labels: { app: "w", tier: "web" } },
        );
        await applyWidget("bob", { replicas: 2 });
        const second = await applyWidget("alice", {}, { labels: { app: "w" } });
        expect(second.spec).toEqual({ replicas: 2, image: "nginx" });
        expect(second.metadata.labels).toEqual({ app: "w" });
        if (showsManagedFields())
          // Sorted by time, then manager, as Kubernetes sorts them: the names are what counts.
          expect(second.metadata.managedFields?.map((m) => m.manager).sort()).toEqual([
            "alice",
            "bob",
          ]);
      });

      it("refuses with 409 an apply that changes another manager's field, naming both, unless forced", async () => {
        await applyWidget("alice", { replicas: 2 });
        const err = await rejection(applyWidget("bob", { replicas: 3 }));
        expect(err.reason).toBe("Conflict");
        expect(err.code).toBe(409);
        expect(err.message).toBe(
          'Apply failed with 1 conflict: conflict with "alice": .spec.replicas',
        );
        expect((await backend.get(Widget, key("w"))).spec.replicas).toBe(2);
        // The same value is no conflict: both own it.
        await applyWidget("bob", { replicas: 2 });
        const forced = await applyWidget("carol", { replicas: 4 }, { force: true });
        expect(forced.spec.replicas).toBe(4);
        if (showsManagedFields())
          // alice and bob lost their only field to carol: their entries go.
          expect(forced.metadata.managedFields?.map((m) => m.manager)).toEqual(["carol"]);
        const back = await rejection(applyWidget("alice", { replicas: 2 }));
        expect(back.message).toBe(
          'Apply failed with 1 conflict: conflict with "carol": .spec.replicas',
        );
      });

      it("records other writes as their manager's Update, which an apply then conflicts with", async () => {
        const applied = await applyWidget("alice", { replicas: 2 });
        const edited = await backend.update(
          Widget,
          { ...applied, spec: { ...applied.spec, replicas: 5 } },
          { fieldManager: "editor" },
        );
        expect(edited.spec.replicas).toBe(5);
        if (showsManagedFields())
          expect(
            edited.metadata.managedFields?.map((m) => [m.manager, m.operation, m.fieldsV1]),
          ).toEqual([["editor", "Update", { "f:spec": { "f:replicas": {} } }]]);
        const err = await rejection(applyWidget("alice", { replicas: 2 }));
        expect(err.reason).toBe("Conflict");
        expect(err.message).toMatch(
          /^Apply failed with 1 conflict: conflict with "editor" using conformance\.setpoint\.dev\/v1 at \S+: \.spec\.replicas$/,
        );
        const merged = await backend.patch(
          Widget,
          key("w"),
          { type: "merge", patch: { spec: { tags: ["t"] } } },
          { fieldManager: "patcher" },
        );
        if (showsManagedFields())
          expect(merged.metadata.managedFields?.map((m) => m.manager)).toEqual([
            "editor",
            "patcher",
          ]);
      });

      it("tracks writes of the status subresource apart", async () => {
        await applyWidget("alice", { replicas: 1 });
        const status = await backend.patch(
          Widget,
          key("w"),
          {
            type: "apply",
            fieldManager: "controller",
            patch: {
              apiVersion: Widget.apiVersion,
              kind: "Widget",
              metadata: { name: "w" },
              status: { phase: "Ready" },
            },
          },
          { subresource: "status" },
        );
        expect(status.status).toEqual({ phase: "Ready" });
        if (showsManagedFields())
          expect(
            status.metadata.managedFields?.find((m) => m.manager === "controller"),
          ).toMatchObject({
            operation: "Apply",
            subresource: "status",
            fieldsV1: { "f:status": { "f:phase": {} } },
          });
        const again = await applyWidget("alice", { replicas: 3 });
        expect(again.status).toEqual({ phase: "Ready" });
      });

      it("records nothing for library writes that name no manager to objects nobody applied", async () => {
        const created = await backend.create(Widget, widget("plain"));
        const updated = await backend.update(Widget, { ...created, spec: { replicas: 3 } });
        if (showsManagedFields()) expect(updated.metadata.managedFields).toBeUndefined();
      });
    });

    describe("delete", () => {
      it("removes an object without finalizers and returns it", async () => {
        await backend.create(Widget, widget("a"));
        const deleted = await backend.delete(Widget, key("a"));
        expect(deleted.metadata.name).toBe("a");
        expect((await rejection(backend.get(Widget, key("a")))).reason).toBe("NotFound");
      });

      it("fails with NotFound for a missing object", async () => {
        expect((await rejection(backend.delete(Widget, key("missing")))).reason).toBe("NotFound");
      });

      it("keeps an object with finalizers, marked with deletionTimestamp, until the last finalizer goes", async () => {
        await backend.create(
          Widget,
          widget("a", { replicas: 1 }, { finalizers: ["example.com/one", "example.com/two"] }),
        );
        const marked = await backend.delete(Widget, key("a"));
        expect(marked.metadata.deletionTimestamp).toBeDefined();
        expect((await backend.get(Widget, key("a"))).metadata.deletionTimestamp).toBe(
          marked.metadata.deletionTimestamp,
        );

        const again = await backend.delete(Widget, key("a"));
        expect(again.metadata.deletionTimestamp).toBe(marked.metadata.deletionTimestamp);

        // Other fields can still be written: a controller reports cleanup in status.
        const reporting = await backend.updateStatus(Widget, {
          ...marked,
          status: { phase: "CleaningUp" },
        });
        expect(reporting.status).toEqual({ phase: "CleaningUp" });

        const one = await backend.update(Widget, {
          ...reporting,
          metadata: { ...reporting.metadata, finalizers: ["example.com/two"] },
        });
        expect(one.metadata.finalizers).toEqual(["example.com/two"]);
        await backend.update(Widget, { ...one, metadata: { ...one.metadata, finalizers: [] } });
        expect((await rejection(backend.get(Widget, key("a")))).reason).toBe("NotFound");
      });

      it("forbids adding a finalizer once deletion started", async () => {
        await backend.create(
          Widget,
          widget("a", { replicas: 1 }, { finalizers: ["example.com/one"] }),
        );
        const marked = await backend.delete(Widget, key("a"));
        const err = await rejection(
          backend.update(Widget, {
            ...marked,
            metadata: { ...marked.metadata, finalizers: ["example.com/one", "example.com/two"] },
          }),
        );
        expect(err.reason).toBe("Invalid");
        expect(err.details?.causes?.[0]?.field).toBe("metadata.finalizers");
      });

      it("never clears deletionTimestamp", async () => {
        await backend.create(
          Widget,
          widget("a", { replicas: 1 }, { finalizers: ["example.com/one"] }),
        );
        const marked = await backend.delete(Widget, key("a"));
        const after = await backend.update(Widget, {
          ...marked,
          metadata: { ...marked.metadata, deletionTimestamp: undefined, labels: { x: "y" } },
        });
        expect(after.metadata.deletionTimestamp).toBe(marked.metadata.deletionTimestamp);
      });

      it("honours uid and resourceVersion preconditions", async () => {
        const v1 = await backend.create(Widget, widget("a"));
        const byUid = await rejection(
          backend.delete(Widget, key("a"), { preconditions: { uid: "not-the-uid" } }),
        );
        expect(byUid.reason).toBe("Conflict");
        await backend.update(Widget, { ...v1, spec: { replicas: 3 } });
        const byVersion = await rejection(
          backend.delete(Widget, key("a"), {
            preconditions: { resourceVersion: v1.metadata.resourceVersion },
          }),
        );
        expect(byVersion.reason).toBe("Conflict");
        await backend.get(Widget, key("a"));
        await backend.delete(Widget, key("a"), { preconditions: { uid: v1.metadata.uid } });
        expect((await rejection(backend.get(Widget, key("a")))).reason).toBe("NotFound");
      });
    });

    describe("garbage collection through ownerReferences", () => {
      it("removes dependents when their owner is deleted", async () => {
        const owner = await backend.create(Widget, widget("owner"));
        await backend.create(Gadget, {
          metadata: { name: "g1", namespace: ns, ownerReferences: [ownerRef(owner)] },
          spec: { size: 1 },
        });
        await backend.create(Gadget, {
          metadata: { name: "g2", namespace: ns, ownerReferences: [ownerRef(owner, false)] },
          spec: { size: 2 },
        });
        await backend.create(Gadget, {
          metadata: { name: "free", namespace: ns },
          spec: { size: 3 },
        });
        await backend.delete(Widget, key("owner"));
        await eventually(async () => {
          expect((await backend.list(Gadget)).items.map((g) => g.metadata.name)).toEqual(["free"]);
        }, within);
      });

      it("collects dependents of dependents", async () => {
        const owner = await backend.create(Widget, widget("owner"));
        const child = await backend.create(
          Widget,
          widget("child", { replicas: 1 }, { ownerReferences: [ownerRef(owner)] }),
        );
        await backend.create(Gadget, {
          metadata: { name: "grandchild", namespace: ns, ownerReferences: [ownerRef(child)] },
          spec: { size: 1 },
        });
        await backend.delete(Widget, key("owner"));
        await eventually(async () => {
          expect((await backend.list(Widget)).items).toHaveLength(0);
          expect((await backend.list(Gadget)).items).toHaveLength(0);
        }, within);
      });

      it("keeps a dependent while another owner of it exists", async () => {
        const a = await backend.create(Widget, widget("a"));
        const b = await backend.create(Widget, widget("b"));
        await backend.create(Gadget, {
          metadata: {
            name: "shared",
            namespace: ns,
            ownerReferences: [ownerRef(a), ownerRef(b, false)],
          },
          spec: { size: 1 },
        });
        await backend.delete(Widget, key("a"));
        // b still owns it: prove the collector ran for a's dependents first.
        await backend.create(Gadget, {
          metadata: { name: "probe", namespace: ns, ownerReferences: [ownerRef(b, false)] },
          spec: { size: 1 },
        });
        await backend.delete(Widget, key("b"));
        await eventually(
          async () => expect((await backend.list(Gadget)).items).toHaveLength(0),
          within,
        );
      });

      it("marks a dependent with finalizers instead of removing it", async () => {
        const owner = await backend.create(Widget, widget("owner"));
        await backend.create(Gadget, {
          metadata: {
            name: "held",
            namespace: ns,
            finalizers: ["example.com/hold"],
            ownerReferences: [ownerRef(owner)],
          },
          spec: { size: 1 },
        });
        await backend.delete(Widget, key("owner"));
        await eventually(async () => {
          expect((await backend.get(Gadget, key("held"))).metadata.deletionTimestamp).toBeDefined();
        }, within);
      });

      it("collects namespaced dependents of a cluster-scoped owner", async () => {
        const rack = await backend.create(Rack, { metadata: { name: "r1" }, spec: { slots: 2 } });
        await backend.create(
          Widget,
          widget("in-rack", { replicas: 1 }, { ownerReferences: [ownerRef(rack)] }),
        );
        await backend.delete(Rack, clusterKey("r1"));
        await eventually(
          async () => expect((await backend.list(Widget)).items).toHaveLength(0),
          within,
        );
      });

      it("waits for an owner's finalizers before collecting its dependents", async () => {
        const owner = await backend.create(
          Widget,
          widget("owner", { replicas: 1 }, { finalizers: ["example.com/hold"] }),
        );
        await backend.create(Gadget, {
          metadata: { name: "g", namespace: ns, ownerReferences: [ownerRef(owner)] },
          spec: { size: 1 },
        });
        const marked = await backend.delete(Widget, key("owner"));
        expect((await backend.get(Gadget, key("g"))).metadata.name).toBe("g");
        await backend.update(Widget, {
          ...marked,
          metadata: { ...marked.metadata, finalizers: [] },
        });
        await eventually(
          async () => expect((await backend.list(Gadget)).items).toHaveLength(0),
          within,
        );
      });

      it("collects a dependent created after its owner was deleted (a stale cache's write), showing it ADDED then DELETED", async () => {
        const owner = await backend.create(Widget, widget("owner"));
        await backend.delete(Widget, key("owner"));
        const from = (await backend.list(Gadget)).resourceVersion;
        const w = watch(Gadget, { resourceVersion: from });
        const late = await backend.create(Gadget, {
          metadata: { name: "late", namespace: ns, ownerReferences: [ownerRef(owner)] },
          spec: { size: 1 },
        });
        expect(late.metadata.ownerReferences).toEqual([ownerRef(owner)]);
        const events = await take(w, 2);
        expect(
          events.map((e) => (e.type === "BOOKMARK" ? e.type : [e.type, e.object.metadata.name])),
        ).toEqual([
          ["ADDED", "late"],
          ["DELETED", "late"],
        ]);
        expect((await rejection(backend.get(Gadget, key("late")))).reason).toBe("NotFound");
      });

      it("collects every dependent created while its owner is deleted, whichever commits first", async () => {
        const owner = await backend.create(Widget, widget("owner"));
        const create = (i: number) =>
          backend.create(Gadget, {
            metadata: { name: `d${i}`, namespace: ns, ownerReferences: [ownerRef(owner)] },
            spec: { size: i },
          });
        const before = Array.from({ length: 50 }, (_, i) => create(i));
        const deleted = backend.delete(Widget, key("owner"));
        const after = Array.from({ length: 50 }, (_, i) => create(50 + i));
        await Promise.all([...before, deleted, ...after]);
        await eventually(
          async () => expect((await backend.list(Gadget)).items).toEqual([]),
          within,
        );
      });

      it("collects a dependent whose owner reference names a uid that no object of that kind and name has", async () => {
        const v1 = await backend.create(Widget, widget("owner"));
        await backend.delete(Widget, key("owner"));
        // Recreated under the same name: a reference to the old uid names an owner that is gone.
        const v2 = await backend.create(Widget, widget("owner"));
        const other = await backend.create(Widget, widget("other"));
        for (const [name, ref] of [
          ["stale", ownerRef(v1)],
          // The uid of a live object under another name is no owner either.
          ["misnamed", { ...ownerRef(other), name: "owner" }],
          ["current", ownerRef(v2)],
        ] as const)
          await backend.create(Gadget, {
            metadata: { name, namespace: ns, ownerReferences: [ref] },
            spec: { size: 1 },
          });
        await eventually(async () => {
          expect((await backend.list(Gadget)).items.map((g) => g.metadata.name)).toEqual([
            "current",
          ]);
        }, within);
      });

      it("collects an object updated to name only owners that are gone", async () => {
        const owner = await backend.create(Widget, widget("owner"));
        await backend.delete(Widget, key("owner"));
        const free = await backend.create(Gadget, {
          metadata: { name: "free", namespace: ns },
          spec: { size: 1 },
        });
        await backend.update(Gadget, {
          ...free,
          metadata: { ...free.metadata, ownerReferences: [ownerRef(owner)] },
        });
        await eventually(
          async () => expect((await backend.list(Gadget)).items).toEqual([]),
          within,
        );
      });

      it("marks a dependent with finalizers created after its owner was deleted", async () => {
        const owner = await backend.create(Widget, widget("owner"));
        await backend.delete(Widget, key("owner"));
        await backend.create(Gadget, {
          metadata: {
            name: "held",
            namespace: ns,
            finalizers: ["example.com/hold"],
            ownerReferences: [ownerRef(owner)],
          },
          spec: { size: 1 },
        });
        await eventually(async () => {
          expect((await backend.get(Gadget, key("held"))).metadata.deletionTimestamp).toBeDefined();
        }, within);
      });

      it("keeps a dependent whose owner is of a kind the store has never held", async () => {
        const w = watch(Gadget);
        await backend.create(Gadget, {
          metadata: {
            name: "kept",
            namespace: ns,
            ownerReferences: [
              {
                apiVersion: "elsewhere.example.com/v1",
                kind: "Stranger",
                name: "s",
                uid: "00000000-0000-4000-8000-000000000000",
              },
            ],
          },
          spec: { size: 1 },
        });
        const [added] = await take(w, 1);
        expect(added?.type).toBe("ADDED");
        await expectNoMoreEvents(w, Gadget);
        expect((await backend.get(Gadget, key("kept"))).metadata.deletionTimestamp).toBeUndefined();
      });

      it("keeps a cluster-scoped object whose owner is namespaced, as Kubernetes does (the bug: it was collected at once)", async () => {
        // Kubernetes finds the reference unresolvable (OwnerRefInvalidNamespace) and never
        // collects the object for it: not when written, not when that owner goes.
        const owner = await backend.create(Widget, widget("owner"));
        const w = watch(Rack);
        const rack = await backend.create(Rack, {
          metadata: { name: "owned-across", ownerReferences: [ownerRef(owner)] },
          spec: { slots: 1 },
        });
        await backend.delete(Widget, key("owner"));
        const [added] = await take(w, 1);
        expect(added).toEqual({ type: "ADDED", object: rack });
        await expectNoMoreEvents(w, Rack);
        expect(await backend.get(Rack, clusterKey("owned-across"))).toEqual(rack);
      });

      it("rejects two controller references", async () => {
        const a = await backend.create(Widget, widget("a"));
        const b = await backend.create(Widget, widget("b"));
        const err = await rejection(
          backend.create(Gadget, {
            metadata: { name: "g", namespace: ns, ownerReferences: [ownerRef(a), ownerRef(b)] },
            spec: { size: 1 },
          }),
        );
        expect(err.reason).toBe("Invalid");
        expect(err.details?.causes?.[0]?.field).toBe("metadata.ownerReferences");
      });
    });

    describe("list", () => {
      async function seed() {
        const labels = [
          { app: "shop", tier: "web" },
          { app: "shop", tier: "api" },
          { app: "blog", tier: "web" },
          { app: "blog" },
          {},
        ];
        for (const [i, l] of labels.entries()) {
          await backend.create(Widget, widget(`w${i}`, { replicas: i }, { labels: l }));
        }
        await backend.create(Widget, {
          ...widget("elsewhere"),
          metadata: { name: "elsewhere", namespace: "other", labels: { app: "shop" } },
        });
      }
      const names = (items: readonly StoredObject[]) => items.map((i) => i.metadata.name);

      it("lists every namespace, or one, in key order", async () => {
        await seed();
        expect(names((await backend.list(Widget)).items)).toEqual([
          "w0",
          "w1",
          "w2",
          "w3",
          "w4",
          "elsewhere",
        ]);
        expect(names((await backend.list(Widget, { namespace: "other" })).items)).toEqual([
          "elsewhere",
        ]);
        expect((await backend.list(Widget, { namespace: "nobody" })).items).toEqual([]);
      });

      it("selects by label equality, inequality and set", async () => {
        await seed();
        const select = async (labelSelector: string, namespace = ns) =>
          names((await backend.list(Widget, { namespace, labelSelector })).items);
        expect(await select("app=shop")).toEqual(["w0", "w1"]);
        expect(await select("app==shop,tier=web")).toEqual(["w0"]);
        expect(await select("app!=shop")).toEqual(["w2", "w3", "w4"]);
        expect(await select("tier in (web, api)")).toEqual(["w0", "w1", "w2"]);
        expect(await select("tier notin (web)")).toEqual(["w1", "w3", "w4"]);
        expect(await select("tier")).toEqual(["w0", "w1", "w2"]);
        expect(await select("!tier")).toEqual(["w3", "w4"]);
        expect(await select("app=shop,!tier")).toEqual([]);
        expect(await select("")).toHaveLength(5);
      });

      it("accepts a structured label selector", async () => {
        await seed();
        const { items } = await backend.list(Widget, {
          namespace: ns,
          labelSelector: {
            matchLabels: { app: "blog" },
            matchExpressions: [{ key: "tier", operator: "Exists" }],
          },
        });
        expect(names(items)).toEqual(["w2"]);
      });

      it("rejects a malformed label selector with BadRequest naming the token", async () => {
        await seed();
        const err = await rejection(
          backend.list(Widget, { labelSelector: "app=shop,tier in web" }),
        );
        expect(err.reason).toBe("BadRequest");
        expect(err.message).toContain('"web"');
        const badKey = await rejection(backend.list(Widget, { labelSelector: "bad key=1" }));
        expect(badKey.reason).toBe("BadRequest");
      });

      it("selects by metadata.name and metadata.namespace fields", async () => {
        await seed();
        expect(
          names((await backend.list(Widget, { fieldSelector: "metadata.name=w2" })).items),
        ).toEqual(["w2"]);
        expect(
          names((await backend.list(Widget, { fieldSelector: "metadata.namespace=other" })).items),
        ).toEqual(["elsewhere"]);
        expect(
          names(
            (
              await backend.list(Widget, {
                fieldSelector: "metadata.namespace!=other,metadata.name!=w0",
              })
            ).items,
          ),
        ).toEqual(["w1", "w2", "w3", "w4"]);
        const err = await rejection(backend.list(Widget, { fieldSelector: "spec.replicas=1" }));
        expect(err.reason).toBe("BadRequest");
        expect(err.message).toContain("spec.replicas");
      });

      it("pages with limit and continue through every item exactly once", async () => {
        for (let i = 0; i < 25; i++)
          await backend.create(Widget, widget(`p${String(i).padStart(2, "0")}`));
        const seen: string[] = [];
        let token: string | undefined;
        let pages = 0;
        do {
          const page = await backend.list(Widget, {
            limit: 7,
            ...(token ? { continue: token } : {}),
          });
          expect(page.items.length).toBeLessThanOrEqual(7);
          seen.push(...names(page.items));
          token = page.continue;
          pages++;
        } while (token);
        expect(pages).toBe(4);
        expect(seen).toEqual(
          Array.from({ length: 25 }, (_, i) => `p${String(i).padStart(2, "0")}`),
        );
      });

      it("serves later pages from the snapshot of the first, whatever is written meanwhile", async () => {
        for (let i = 0; i < 10; i++) await backend.create(Widget, widget(`p${i}`, { replicas: i }));
        const first = await backend.list(Widget, { limit: 4 });
        await backend.delete(Widget, key("p8"));
        await backend.create(Widget, widget("p99"));
        const p5 = await backend.get(Widget, key("p5"));
        await backend.update(Widget, { ...p5, spec: { ...p5.spec, replicas: 500 } });
        const rest: StoredObject[] = [];
        let token = first.continue;
        while (token) {
          const page = await backend.list(Widget, { limit: 4, continue: token });
          expect(page.resourceVersion).toBe(first.resourceVersion);
          rest.push(...page.items);
          token = page.continue;
        }
        expect(names([...first.items, ...rest])).toEqual([
          "p0",
          "p1",
          "p2",
          "p3",
          "p4",
          "p5",
          "p6",
          "p7",
          "p8",
          "p9",
        ]);
        expect(rest.find((o) => o.metadata.name === "p5")?.spec).toMatchObject({ replicas: 5 });
      });

      it("pages through a selected subset", async () => {
        for (let i = 0; i < 12; i++)
          await backend.create(
            Widget,
            widget(
              `s${String(i).padStart(2, "0")}`,
              { replicas: i },
              { labels: { even: String(i % 2 === 0) } },
            ),
          );
        const seen: string[] = [];
        let token: string | undefined;
        do {
          const page = await backend.list(Widget, {
            limit: 2,
            labelSelector: "even=true",
            ...(token ? { continue: token } : {}),
          });
          seen.push(...names(page.items));
          token = page.continue;
        } while (token);
        expect(seen).toEqual(["s00", "s02", "s04", "s06", "s08", "s10"]);
      });

      it("reports a resourceVersion to watch from without missing a change", async () => {
        await seed();
        const list = await backend.list(Widget);
        await backend.create(Widget, widget("after"));
        const w = watch(Widget, { resourceVersion: list.resourceVersion });
        const [event] = await take(w, 1);
        expect(event).toMatchObject({ type: "ADDED", object: { metadata: { name: "after" } } });
      });

      it("answers a continue token from beyond the store's revision (a list begun before a restart) with Expired", async () => {
        for (let i = 0; i < 5; i++) await backend.create(Widget, widget(`c${i}`));
        const first = await backend.list(Widget, { limit: 2 });
        const restarted = await restartedStore();
        await restarted.create(Widget, widget("c0"));
        const err = await rejection(
          restarted.list(Widget, { limit: 2, continue: first.continue! }),
        );
        expect(err.reason).toBe("Expired");
        expect(err.code).toBe(410);
        expect(err.message).toContain("You can start a new list without the continue parameter");
      });

      it("lists the state at an earlier revision exactly (resourceVersionMatch Exact), a page at a time too", async () => {
        const a = await backend.create(Widget, widget("a"));
        await backend.create(Widget, widget("b"));
        await backend.create(Widget, widget("c"));
        const then = (await backend.list(Widget)).resourceVersion;
        await backend.update(Widget, { ...a, spec: { replicas: 9 } });
        await backend.delete(Widget, key("b"));
        await backend.create(Widget, widget("d"));
        const exact = await backend.list(Widget, {
          resourceVersion: then,
          resourceVersionMatch: "Exact",
        });
        expect(exact.resourceVersion).toBe(then);
        expect(names(exact.items)).toEqual(["a", "b", "c"]);
        expect(exact.items[0]!.metadata.resourceVersion).toBe(a.metadata.resourceVersion);
        expect((exact.items[0]!.spec as { replicas: number }).replicas).toBe(1);
        // Page by page: every page reads the same past revision.
        const seen: string[] = [];
        let token: string | undefined;
        let first = true;
        do {
          const page: ObjectList = await backend.list(Widget, {
            limit: 1,
            ...(first ? { resourceVersion: then, resourceVersionMatch: "Exact" as const } : {}),
            ...(token ? { continue: token } : {}),
          });
          first = false;
          expect(page.resourceVersion).toBe(then);
          seen.push(...names(page.items));
          token = page.continue;
        } while (token);
        expect(seen).toEqual(["a", "b", "c"]);
        // Not older than: the current state, which is never older.
        const current = await backend.list(Widget, { resourceVersion: then });
        expect(names(current.items)).toEqual(["a", "c", "d"]);
        expect(Number(current.resourceVersion)).toBeGreaterThan(Number(then));
      });

      it("answers a list at a revision beyond the store's with Timeout (504) Too large resource version", async () => {
        const created = await backend.create(Widget, widget("a"));
        const beyond = String(Number(created.metadata.resourceVersion) + 1000);
        for (const resourceVersionMatch of ["Exact", "NotOlderThan"] as const) {
          const err = await rejection(
            backend.list(Widget, { resourceVersion: beyond, resourceVersionMatch }),
          );
          expect(err.code).toBe(504);
          expect(err.message).toContain("Too large resource version");
        }
        const bad = await rejection(
          backend.list(Widget, { resourceVersion: "abc", resourceVersionMatch: "Exact" }),
        );
        expect(bad.reason).toBe("BadRequest");
      });

      if (options.compact !== undefined)
        it("answers a list at a revision before the kept history with Expired (410)", async () => {
          const a = await backend.create(Widget, widget("a"));
          const then = a.metadata.resourceVersion;
          await backend.update(Widget, { ...a, spec: { replicas: 2 } });
          await options.compact?.(backend);
          const err = await rejection(
            backend.list(Widget, { resourceVersion: then, resourceVersionMatch: "Exact" }),
          );
          expect(err.code).toBe(410);
          expect(ApiError.isGone(err)).toBe(true);
          // The current state is still there to list.
          expect(names((await backend.list(Widget, { resourceVersion: then })).items)).toEqual([
            "a",
          ]);
        });

      it("rejects a garbled continue token", async () => {
        const err = await rejection(backend.list(Widget, { continue: "not a token" }));
        expect(["BadRequest", "Expired", "Gone"]).toContain(err.reason);
      });
    });

    describe("watch", () => {
      it("delivers every change after a revision, in order, exactly once", async () => {
        const start = await backend.create(Widget, widget("before"));
        const a = await backend.create(Widget, widget("a"));
        const a2 = await backend.update(Widget, { ...a, spec: { ...a.spec, replicas: 2 } });
        const a3 = await backend.updateStatus(Widget, { ...a2, status: { readyReplicas: 2 } });
        await backend.delete(Widget, key("a"));
        const w = watch(Widget, { resourceVersion: start.metadata.resourceVersion });
        const events = await take(w, 4);
        expect(events.map((e) => e.type)).toEqual(["ADDED", "MODIFIED", "MODIFIED", "DELETED"]);
        const objects = events.map((e) => (e.type === "BOOKMARK" ? undefined : e.object));
        expect(objects[0]).toEqual(a);
        expect(objects[1]).toEqual(a2);
        expect(objects[2]).toEqual(a3);
        expect(objects[3]?.metadata.name).toBe("a");
        expect(new Set(objects.map((o) => o?.metadata.resourceVersion)).size).toBe(4);
        expect(objects.every(isDeepFrozen)).toBe(true);
        await expectNoMoreEvents(w);
      });

      it("without a resourceVersion delivers only later changes", async () => {
        await backend.create(Widget, widget("old"));
        const w = watch(Widget);
        await backend.create(Widget, widget("new"));
        const [event] = await take(w, 1);
        expect(event).toMatchObject({ type: "ADDED", object: { metadata: { name: "new" } } });
      });

      it("delivers live changes to several watchers", async () => {
        const ws = [watch(Widget), watch(Widget), watch(Widget)];
        const created = await backend.create(Widget, widget("a"));
        for (const w of ws) expect(await take(w, 1)).toEqual([{ type: "ADDED", object: created }]);
      });

      it("delivers only the watched namespace and kind", async () => {
        const w = watch(Widget, { namespace: "other" });
        await backend.create(Widget, widget("here"));
        await backend.create(Gadget, {
          metadata: { name: "gadget", namespace: "other" },
          spec: { size: 1 },
        });
        await backend.create(Widget, {
          ...widget("there"),
          metadata: { name: "there", namespace: "other" },
        });
        const [event] = await take(w, 1);
        expect(event).toMatchObject({ type: "ADDED", object: { metadata: { name: "there" } } });
      });

      it("with a label selector, shows objects entering the selection as ADDED and leaving it as DELETED", async () => {
        const w = watch(Widget, { labelSelector: "app=shop" });
        const a = await backend.create(
          Widget,
          widget("a", { replicas: 1 }, { labels: { app: "blog" } }),
        );
        const a2 = await backend.update(Widget, {
          ...a,
          metadata: { ...a.metadata, labels: { app: "shop" } },
        });
        const a3 = await backend.update(Widget, { ...a2, spec: { replicas: 2 } });
        await backend.update(Widget, {
          ...a3,
          metadata: { ...a3.metadata, labels: { app: "blog" } },
        });
        const events = await take(w, 3);
        expect(events.map((e) => e.type)).toEqual(["ADDED", "MODIFIED", "DELETED"]);
      });

      it("with a field selector, delivers only the named object", async () => {
        const w = watch(Widget, { fieldSelector: "metadata.name=b" });
        await backend.create(Widget, widget("a"));
        await backend.create(Widget, widget("b"));
        const [event] = await take(w, 1);
        expect(event).toMatchObject({ object: { metadata: { name: "b" } } });
      });

      it("shows a delete held by finalizers as MODIFIED, and the removal as DELETED", async () => {
        const w = watch(Widget);
        const created = await backend.create(
          Widget,
          widget("a", { replicas: 1 }, { finalizers: ["example.com/x"] }),
        );
        const marked = await backend.delete(Widget, key("a"));
        await backend.update(Widget, {
          ...marked,
          metadata: { ...marked.metadata, finalizers: [] },
        });
        const events = await take(w, 3);
        expect(events.map((e) => e.type)).toEqual(["ADDED", "MODIFIED", "DELETED"]);
        expect(events[0]).toEqual({ type: "ADDED", object: created });
      });

      if (options.compact !== undefined)
        it("fails with Expired (410) when resuming before the kept history", async () => {
          const old = await backend.create(Widget, widget("a"));
          await backend.update(Widget, { ...old, spec: { replicas: 2 } });
          await options.compact?.(backend);
          const w = watch(Widget, { resourceVersion: old.metadata.resourceVersion });
          const err = await rejection(withDeadline(w.next(), timeoutMs, "the Expired error"));
          expect(err.reason).toBe("Expired");
          expect(err.code).toBe(410);
          expect(ApiError.isGone(err)).toBe(true);
        });

      if (options.compact !== undefined)
        it("answers a continue token from before a compaction with Expired when the kind changed", async () => {
          for (let i = 0; i < 5; i++) await backend.create(Widget, widget(`c${i}`));
          const first = await backend.list(Widget, { limit: 2 });
          await backend.create(Widget, widget("c9"));
          await options.compact?.(backend);
          const err = await rejection(
            backend.list(Widget, { limit: 2, continue: first.continue! }),
          );
          expect(ApiError.isGone(err)).toBe(true);
        });

      if (options.refusesFutureWatches !== false)
        it("fails with Timeout (504) Too large resource version when watching from beyond the store's revision, so that clients relist (the bug: it streamed)", async () => {
          const created = await backend.create(Widget, widget("a"));
          const expectTooLarge = async (resourceVersion: string, on: Backend = backend) => {
            const w = on.watch(Widget, { resourceVersion });
            watches.push(w);
            const err = await rejection(withDeadline(w.next(), timeoutMs, "the Timeout error"));
            expect(err.reason).toBe("Timeout");
            expect(err.code).toBe(504);
            expect(err.message).toContain("Too large resource version");
            // What client-go's reflector looks for before it relists from the current state.
            expect(err.details?.causes).toContainEqual(
              expect.objectContaining({
                reason: "ResourceVersionTooLarge",
                message: "Too large resource version",
              }),
            );
          };
          await expectTooLarge("99999999999999999999999");
          await expectTooLarge(String(Number(created.metadata.resourceVersion) + 1000));
          // A resume point from before a restart of a store whose revisions began again.
          for (let i = 0; i < 5; i++) await backend.create(Widget, widget(`b${i}`));
          await expectTooLarge(
            (await backend.list(Widget)).resourceVersion,
            await restartedStore(),
          );
          // The current revision itself is a fine place to resume from.
          const now = (await backend.list(Widget)).resourceVersion;
          const w = watch(Widget, { resourceVersion: now });
          const later = await backend.create(Widget, widget("later"));
          expect(await take(w, 1)).toEqual([{ type: "ADDED", object: later }]);
        });

      it("sends bookmarks carrying a revision to resume from when asked", async () => {
        const w = watch(Widget, { allowBookmarks: true, bookmarkIntervalMs: 20 });
        const created = await backend.create(Widget, widget("a"));
        await backend.create(Gadget, {
          metadata: { name: "elsewhere", namespace: ns },
          spec: { size: 1 },
        });
        let bookmark: string | undefined;
        const events: WatchEvent[] = [];
        while (bookmark === undefined) {
          const [event] = await take(w, 1, false);
          if (event?.type === "BOOKMARK") bookmark = event.resourceVersion;
          else if (event) events.push(event);
        }
        expect(events).toEqual([{ type: "ADDED", object: created }]);
        const resumed = watch(Widget, { resourceVersion: bookmark });
        const later = await backend.create(Widget, widget("b"));
        expect(await take(resumed, 1)).toEqual([{ type: "ADDED", object: later }]);
      });

      it("ends when its signal aborts or it is closed", async () => {
        const controller = new AbortController();
        const aborted = watch(Widget, { signal: controller.signal });
        const pending = aborted.next();
        controller.abort();
        expect((await withDeadline(pending, timeoutMs, "the end of the watch")).done).toBe(true);
        const closed = watch(Widget);
        const waiting = closed.next();
        closed.close();
        expect((await withDeadline(waiting, timeoutMs, "the end of the watch")).done).toBe(true);
        let count = 0;
        const broken = watch(Widget);
        const creating = new Promise((resolve) => setTimeout(resolve, 0)).then(() =>
          backend.create(Widget, widget("x")),
        );
        for await (const _ of broken) {
          count++;
          break;
        }
        expect(count).toBe(1);
        await creating;
        // `break` closed it: a later change is not delivered, and the watch has ended.
        await backend.create(Widget, widget("y"));
        expect(
          (await withDeadline(broken.next(), timeoutMs, "the end of the broken-off watch")).done,
        ).toBe(true);
      });
    });

    // Only for stores that can fence: for one that cannot, there is nothing to run or skip.
    if (options.fencing !== false)
      describe("fencing", () => {
        it("refuses writes fenced by a Lease term that is over, and takes the current term's", async () => {
          const lease = await backend.create(Lease, {
            metadata: { name: "leader", namespace: ns },
            spec: { holderIdentity: "a", leaseTransitions: 3 },
          });
          const fence = { lease: { namespace: ns, name: "leader" }, holder: "a", transitions: 3 };
          const ok = await backend.create(Widget, widget("in-term"), { fence });
          await backend.update(Lease, {
            ...lease,
            spec: { holderIdentity: "b", leaseTransitions: 4 },
          });
          const late = await rejection(backend.create(Widget, widget("late"), { fence }));
          expect(late.reason).toBe("Conflict");
          expect(late.message).toContain("fenced: the write belongs to a's term 3");
          expect((await rejection(backend.get(Widget, key("late")))).reason).toBe("NotFound");
          const patched = await rejection(
            backend.patch(
              Widget,
              key("in-term"),
              { type: "merge", patch: { spec: { replicas: 9 } } },
              { fence },
            ),
          );
          expect(patched.reason).toBe("Conflict");
          expect((await rejection(backend.delete(Widget, key("in-term"), { fence }))).reason).toBe(
            "Conflict",
          );
          expect(await backend.get(Widget, key("in-term"))).toEqual(ok);
        });
      });

    describe("bad input", () => {
      async function expectUnchanged<T>(write: () => Promise<T>, field: string): Promise<ApiError> {
        const before = await backend.list(Widget);
        const w = watch(Widget, { resourceVersion: before.resourceVersion });
        const err = await rejection(write());
        expect(err.reason).toBe("Invalid");
        expect(err.code).toBe(422);
        expect(err.details?.causes?.map((c) => c.field)).toContain(field);
        expect((await backend.list(Widget)).items).toEqual(before.items);
        await expectNoMoreEvents(w);
        return err;
      }

      it("rejects a spec that breaks the schema, naming the field path", async () => {
        const err = await expectUnchanged(
          () => backend.create(Widget, widget("a", { replicas: "three" })),
          "spec.replicas",
        );
        expect(err.message).toContain("spec.replicas");
        await expectUnchanged(
          () => backend.create(Widget, widget("b", { replicas: 1, tags: ["ok", 7] })),
          "spec.tags[1]",
        );
      });

      it("rejects a missing spec", async () => {
        await expectUnchanged(
          () => backend.create(Widget, { metadata: { name: "a", namespace: ns } } as never),
          "spec",
        );
      });

      it("rejects the wrong kind or apiVersion", async () => {
        await expectUnchanged(
          () => backend.create(Widget, { ...widget("a"), kind: "Gadget" }),
          "kind",
        );
        await expectUnchanged(
          () => backend.create(Widget, { ...widget("a"), apiVersion: "other/v1" }),
          "apiVersion",
        );
      });

      it("rejects unknown top-level fields", async () => {
        await expectUnchanged(
          () => backend.create(Widget, { ...widget("a"), data: { x: 1 } } as never),
          "data",
        );
      });

      it("rejects malformed names and namespaces", async () => {
        await expectUnchanged(() => backend.create(Widget, widget("Not_A_Name")), "metadata.name");
        await expectUnchanged(
          () => backend.create(Widget, widget("x".repeat(254))),
          "metadata.name",
        );
        await expectUnchanged(
          () =>
            backend.create(Widget, {
              ...widget("a"),
              metadata: { name: "a", namespace: "Bad.NS" },
            }),
          "metadata.namespace",
        );
        await expectUnchanged(
          () => backend.create(Widget, { ...widget("a"), metadata: { name: "a" } }),
          "metadata.namespace",
        );
        await expectUnchanged(
          () => backend.create(Widget, { ...widget("a"), metadata: { namespace: ns } }),
          "metadata.name",
        );
      });

      it("rejects malformed label keys and values", async () => {
        await expectUnchanged(
          () =>
            backend.create(Widget, widget("a", { replicas: 1 }, { labels: { "bad key": "x" } })),
          "metadata.labels",
        );
        await expectUnchanged(
          () => backend.create(Widget, widget("a", { replicas: 1 }, { labels: { app: "-bad-" } })),
          "metadata.labels[app]",
        );
        await expectUnchanged(
          () =>
            backend.create(
              Widget,
              widget("a", { replicas: 1 }, { labels: { app: "x".repeat(64) } }),
            ),
          "metadata.labels[app]",
        );
        await expectUnchanged(
          () =>
            backend.create(
              Widget,
              widget("a", { replicas: 1 }, { labels: { "Example.com/app": "x" } }),
            ),
          "metadata.labels",
        );
      });

      it("rejects annotations over 256 KiB in all", async () => {
        await expectUnchanged(
          () =>
            backend.create(
              Widget,
              widget(
                "a",
                { replicas: 1 },
                { annotations: { big: "x".repeat(200 * 1024), bigger: "y".repeat(100 * 1024) } },
              ),
            ),
          "metadata.annotations",
        );
      });

      it("rejects an object over the size limit", async () => {
        await expectUnchanged(
          () =>
            backend.create(Widget, widget("a", { replicas: 1, blob: "z".repeat(2 * 1024 * 1024) })),
          "<root>",
        );
      });

      it("counts the whole object against the size limit, parts the write leaves alone too", async () => {
        // 1.2 MiB and 0.4 MiB: each fits, together they are over 1.5 MiB.
        const large = (c: string) => c.repeat(1.2 * 1024 * 1024);
        const small = (c: string) => c.repeat(0.4 * 1024 * 1024);
        // A large spec, then a status that takes the object over.
        await backend.create(Widget, widget("a", { replicas: 1, blob: large("a") }));
        await expectUnchanged(
          () =>
            backend.patch(
              Widget,
              key("a"),
              { type: "merge", patch: { status: { phase: small("s") } } },
              { subresource: "status" },
            ),
          "<root>",
        );
        // A large status, then a spec that takes the object over.
        await backend.create(Widget, widget("b"));
        await backend.patch(
          Widget,
          key("b"),
          { type: "merge", patch: { status: { phase: large("s") } } },
          { subresource: "status" },
        );
        await expectUnchanged(
          () =>
            backend.patch(Widget, key("b"), {
              type: "merge",
              patch: { spec: { blob: small("b") } },
            }),
          "<root>",
        );
      });

      it("rejects a bad update and keeps the stored object", async () => {
        const v1 = await backend.create(Widget, widget("a"));
        await expectUnchanged(
          () => backend.update(Widget, { ...v1, spec: { replicas: -5 } }),
          "spec.replicas",
        );
        await expectUnchanged(
          () =>
            backend.update(Widget, {
              ...v1,
              metadata: { ...v1.metadata, labels: { "no good": "x" } },
            }),
          "metadata.labels",
        );
      });
    });

    describe("text", () => {
      it("replaces lone surrogates with U+FFFD, as Kubernetes' JSON decoder does (the bug: PostgreSQL answered 500)", async () => {
        const created = await backend.create(
          Widget,
          widget(
            "lone",
            { replicas: 1, blob: "a\ud800b", tags: ["\udc00", "paired \ud83d\ude00 kept"] },
            { annotations: { note: "x\udbffy" } },
          ),
        );
        const expected = {
          spec: { blob: "a\ufffdb", tags: ["\ufffd", "paired \ud83d\ude00 kept"] },
          metadata: { annotations: { note: "x\ufffdy" } },
        };
        expect(created).toMatchObject(expected);
        expect(await backend.get(Widget, key("lone"))).toMatchObject(expected);
        // Written again as given, it is the same object: no change, no revision.
        const again = await backend.update(Widget, {
          ...created,
          spec: { ...created.spec, blob: "a\ud800b" },
        });
        expect(again.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
      });

      it("stores U+0000 as given, or refuses it as Invalid naming the field where the store cannot hold it (PostgreSQL) — never an InternalError", async () => {
        const writes = [
          ["spec.blob", widget("nul-spec", { replicas: 1, blob: "a\u0000b" })],
          ["spec.tags[0]", widget("nul-tag", { replicas: 1, tags: ["\u0000"] })],
          [
            "metadata.annotations",
            widget("nul-note", { replicas: 1 }, { annotations: { note: "x\u0000y" } }),
          ],
        ] as const;
        for (const [field, object] of writes) {
          const written = await settle(backend.create(Widget, object));
          if (written.error === undefined) {
            const read = await backend.get(Widget, key(object.metadata.name));
            expect(read).toEqual(written.value);
            expect(read).toMatchObject({ spec: object.spec });
            continue;
          }
          expect(written.error.reason).toBe("Invalid");
          expect(written.error.details?.causes?.[0]?.field).toContain(field);
          expect(written.error.message).toContain("U+0000");
          expect((await rejection(backend.get(Widget, key(object.metadata.name)))).reason).toBe(
            "NotFound",
          );
        }
      });

      it("finds no object under a name or namespace holding U+0000, rather than failing", async () => {
        await backend.create(Widget, widget("a"));
        for (const lookup of [
          () => backend.get(Widget, key("a\u0000")),
          () => backend.get(Widget, { namespace: `${ns}\u0000`, name: "a" }),
          () => backend.delete(Widget, key("a\u0000")),
          () =>
            backend.patch(Widget, key("a\u0000"), {
              type: "merge",
              patch: { spec: { replicas: 2 } },
            }),
        ])
          expect((await rejection(lookup())).reason).toBe("NotFound");
        expect((await backend.list(Widget, { namespace: "x\u0000" })).items).toEqual([]);
      });
    });

    describe("flat kinds", () => {
      const note = (name: string, text: unknown) => ({ metadata: { name, namespace: ns }, text });

      it("keep their fields at the top level, validated, with defaults", async () => {
        const created = await backend.create(Note, note("n", "hello") as never);
        expect(created).toMatchObject({
          apiVersion: Note.apiVersion,
          kind: "Note",
          text: "hello",
          tags: [],
        });
        expect(created.spec).toBeUndefined();
        const err = await rejection(backend.create(Note, note("m", 5) as never));
        expect(err.details?.causes?.[0]?.field).toBe("text");
      });

      it("count a change of any top-level field as a new generation, and keep status apart", async () => {
        const created = await backend.create(Note, note("n", "hello") as never);
        const renamed = await backend.update(Note, { ...created, text: "bye" } as never);
        expect(renamed.metadata.generation).toBe(2);
        const read = await backend.updateStatus(Note, {
          ...renamed,
          status: { read: true },
        } as never);
        expect(read).toMatchObject({ text: "bye", status: { read: true } });
        expect(read.metadata.generation).toBe(2);
        const patched = await backend.patch(Note, key("n"), {
          type: "merge",
          patch: { tags: ["x"] },
        });
        expect(patched).toMatchObject({ text: "bye", tags: ["x"], status: { read: true } });
        const same = await backend.update(Note, { ...patched } as never);
        expect(same.metadata.resourceVersion).toBe(patched.metadata.resourceVersion);
      });
    });

    describe("asynchronous validators", () => {
      const ledger = (name: string, entries: unknown) => ({
        metadata: { name, namespace: ns },
        spec: { entries },
      });

      it("validate creates and updates, naming the field at fault", async () => {
        const created = await backend.create(Ledger, ledger("l", 1));
        expect(created.spec).toEqual({ entries: 1 });
        const err = await rejection(backend.update(Ledger, { ...created, spec: { entries: -1 } }));
        expect(err.reason).toBe("Invalid");
        expect(err.details?.causes?.[0]?.field).toBe("spec.entries");
      });

      it("keep one winner among concurrent updates of one version", async () => {
        const created = await backend.create(Ledger, ledger("l", 0));
        const results = await Promise.allSettled(
          Array.from({ length: 8 }, (_, i) =>
            backend.update(Ledger, { ...created, spec: { entries: i + 1 } }),
          ),
        );
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      });

      it("lose no concurrent patch", async () => {
        await backend.create(Ledger, ledger("l", 0));
        await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            backend.patch(Ledger, key("l"), {
              type: "merge",
              patch: { metadata: { labels: { [`p${i}`]: "x" } } },
            }),
          ),
        );
        expect(
          Object.keys((await backend.get(Ledger, key("l"))).metadata.labels ?? {}),
        ).toHaveLength(10);
      });

      it("fail a pinned patch whose version changed while it was validated", async () => {
        const created = await backend.create(Ledger, ledger("l", 0));
        const pinned = backend.patch(Ledger, key("l"), {
          type: "merge",
          patch: {
            metadata: { resourceVersion: created.metadata.resourceVersion },
            spec: { entries: 5 },
          },
        });
        const other = backend.patch(Ledger, key("l"), {
          type: "merge",
          patch: { metadata: { labels: { other: "yes" } } },
        });
        const results = await Promise.allSettled([pinned, other]);
        const succeeded = results.filter((r) => r.status === "fulfilled").length;
        expect(succeeded).toBeGreaterThanOrEqual(1);
        const [first] = results;
        if (first.status === "fulfilled") {
          // It may only have applied to the version it named, before the other patch.
          expect(first.value.metadata.labels).toBeUndefined();
          expect((await backend.get(Ledger, key("l"))).metadata.labels).toEqual({ other: "yes" });
        } else {
          expect(ApiError.is(first.reason, "Conflict")).toBe(true);
        }
      });
    });

    describe("concurrent writers", () => {
      it("lets exactly one of many writers of one key win each round, and a watcher sees every win once, in order", async () => {
        const writers = 16;
        const rounds = 12;
        const start = await backend.create(Widget, widget("contended", { replicas: 0 }));
        const w = watch(Widget, { resourceVersion: start.metadata.resourceVersion });
        const wins: string[] = [];
        for (let round = 0; round < rounds; round++) {
          const current = await backend.get(Widget, key("contended"));
          const results = await Promise.allSettled(
            Array.from({ length: writers }, (_, i) =>
              backend.update(Widget, {
                ...current,
                spec: { ...current.spec, replicas: round * writers + i + 1 },
              }),
            ),
          );
          const won = results.filter((r) => r.status === "fulfilled");
          const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
          expect(won).toHaveLength(1);
          expect(lost.every((r) => ApiError.is(r.reason, "Conflict"))).toBe(true);
          wins.push(
            (won[0] as PromiseFulfilledResult<StoredObject>).value.metadata.resourceVersion,
          );
        }
        const events = await take(w, rounds);
        expect(
          events.map((e) => (e.type === "BOOKMARK" ? "" : e.object.metadata.resourceVersion)),
        ).toEqual(wins);
        await expectNoMoreEvents(w);
      });

      it("gives concurrent creates distinct revisions that a watcher sees gap-free", async () => {
        const first = await backend.create(Widget, widget("first"));
        const w = watch(Widget, { resourceVersion: first.metadata.resourceVersion });
        const created = await Promise.all(
          Array.from({ length: 100 }, (_, i) =>
            backend.create(Widget, widget(`c${i}`, { replicas: i })),
          ),
        );
        const events = await take(w, 100);
        const seen = events.map((e) =>
          e.type === "BOOKMARK" ? "" : e.object.metadata.resourceVersion,
        );
        expect(new Set(seen).size).toBe(100);
        expect(new Set(seen)).toEqual(new Set(created.map((c) => c.metadata.resourceVersion)));
        await expectNoMoreEvents(w);
      });

      it("keeps watchers of one key gap-free while writers of many keys interleave", async () => {
        const w = watch(Widget);
        const wAll = watch(Widget, { namespace: ns });
        const objects = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            backend.create(Widget, widget(`k${i}`, { replicas: 0 })),
          ),
        );
        let writes = objects.length;
        await Promise.all(
          objects.map(async (object) => {
            let current = object;
            for (let step = 1; step <= 5; step++) {
              current = await backend.update(Widget, {
                ...current,
                spec: { ...current.spec, replicas: step },
              });
              writes++;
            }
          }),
        );
        for (const watcher of [w, wAll]) {
          const events = await take(watcher, writes);
          const perKey = new Map<string, number[]>();
          for (const e of events) {
            if (e.type === "BOOKMARK") continue;
            const list = perKey.get(e.object.metadata.name) ?? [];
            list.push(e.object.spec.replicas as number);
            perKey.set(e.object.metadata.name, list);
          }
          for (const steps of perKey.values()) expect(steps).toEqual([0, 1, 2, 3, 4, 5]);
        }
      });
    });

    // Only for stores with a commit that can fail: a memory store's write is complete when it
    // returns, so for it there is nothing to run or skip.
    const failCommits = options.failCommits;
    if (failCommits !== undefined)
      describe("a failed commit", () => {
        it("serves nothing of the write it failed: not to reads made meanwhile or after, not to watches", async () => {
          const kept = await backend.create(Widget, widget("kept"));
          const w = watch(Widget, { resourceVersion: kept.metadata.resourceVersion });
          const restore = await failCommits!(backend);
          // Large enough to need room that a full disk does not have.
          const doomed = settle(
            backend.create(Widget, widget("doomed", { replicas: 1, blob: "d".repeat(256 * 1024) })),
          );
          // Reads made while the commit is under way, and once it failed.
          const during = [settle(backend.get(Widget, key("doomed"))), settle(backend.list(Widget))];
          const failed = await doomed;
          expect(failed.error).toBeInstanceOf(ApiError);
          for (const read of [...(await Promise.all(during)), ...(await readDoomed())])
            expectNoDoomed(read);
          await restore();

          const next = await settle(backend.create(Widget, widget("after")));
          if (next.error === undefined) {
            // Carries on: committed state only, and the watch goes on from it.
            for (const read of await readDoomed()) expectNoDoomed(read);
            expect((await backend.list(Widget)).items.map((o) => o.metadata.name)).toEqual([
              "after",
              "kept",
            ]);
            const [event] = await take(w, 1);
            expect(event?.type === "BOOKMARK" ? event : event?.object.metadata.name).toBe("after");
          } else {
            // Refuses every call: writes, reads, new watches; an open watch ends with the error.
            expect(next.error.reason).toBe("ServiceUnavailable");
            for (const read of [
              settle(backend.get(Widget, key("kept"))),
              settle(backend.list(Widget)),
              // A kind the failed write did not touch is refused as well.
              settle(backend.list(Gadget)),
              settle(backend.delete(Widget, key("kept"))),
            ])
              expect((await read).error?.reason).toBe("ServiceUnavailable");
            const ended = await withDeadline(settle(nextEvent(w)), timeoutMs, "the watch to end");
            expect(ended.error?.reason).toBe("ServiceUnavailable");
            const fresh = await withDeadline(
              settle(nextEvent(watch(Widget))),
              timeoutMs,
              "a new watch to be refused",
            );
            expect(fresh.error?.reason).toBe("ServiceUnavailable");
          }

          function readDoomed() {
            return Promise.all([
              settle(backend.get(Widget, key("doomed"))),
              settle(backend.list(Widget)),
            ]);
          }
        });

        /** A read's answer must not hold the doomed object: NotFound, refused, or without it. */
        function expectNoDoomed(read: Settled<unknown>): void {
          if (read.error !== undefined) {
            expect(["NotFound", "ServiceUnavailable"]).toContain(read.error.reason);
            return;
          }
          const value = read.value as StoredObject | { items: StoredObject[] };
          const names =
            "items" in value ? value.items.map((o) => o.metadata.name) : [value.metadata.name];
          expect(names).not.toContain("doomed");
        }

        async function nextEvent(w: Watch): Promise<WatchEvent | undefined> {
          for (;;) {
            const next = await w.next();
            if (next.done) return undefined;
            if (next.value.type !== "BOOKMARK") return next.value;
          }
        }
      });
  });
}

/** How a call ended: its value, or the ApiError it failed with. */
type Settled<T> = { value: T; error?: undefined } | { value?: undefined; error: ApiError };

async function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  try {
    return { value: await promise };
  } catch (error) {
    if (error instanceof ApiError) return { error };
    throw error;
  }
}
