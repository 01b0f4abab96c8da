/**
 * The PostgreSQL backend against a real PostgreSQL 15: the whole backend conformance suite, then
 * what is PostgreSQL's own — schemas side by side, migrations, notifications lost or dropped.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { createControlPlane, defineKind, Informer, systemClock, type Watch } from "../src/index.js";
import { connectPostgres, type PostgresBackend } from "../src/postgres/index.js";
import { runBackendConformance } from "../src/testing/conformance.js";
import { eventually, withDeadline } from "../src/testing/eventually.js";
import { FakeClock } from "../src/testing/fake-clock.js";
import { ExampleWidget as Widget } from "../src/testing/fixtures.js";
import { startTestPostgres } from "../src/testing/postgres.js";

const url = inject("postgresUrl");
const schemas: string[] = [];
const freshSchema = () => {
  const schema = `t_${randomBytes(6).toString("hex")}`;
  schemas.push(schema);
  return schema;
};
async function dropSchemas(): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  for (const schema of schemas.splice(0))
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
}

describe.skipIf(!url)("PostgreSQL", () => {
  runBackendConformance(
    "postgres",
    () => connectPostgres({ postgres: url, schema: freshSchema(), pollIntervalMs: 200 }),
    {
      compact: (backend) => (backend as PostgresBackend).compact(),
      failCommits: (backend) => failCommits((backend as PostgresBackend).schema),
      cleanup: dropSchemas,
    },
  );
});

/**
 * Makes every write transaction of the store in `schema` fail at COMMIT — a deferred constraint
 * trigger that raises, checked only then — and resolves to what lifts it.
 */
async function failCommits(schema: string): Promise<() => Promise<void>> {
  const sql = async (text: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  };
  await sql(`
    CREATE FUNCTION "${schema}".refuse_commit() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN RAISE EXCEPTION 'commit refused (test)'; END $$;
    CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT OR UPDATE OR DELETE ON "${schema}".changes
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "${schema}".refuse_commit();`);
  return () =>
    sql(`DROP TRIGGER refuse_commit ON "${schema}".changes;
         DROP FUNCTION "${schema}".refuse_commit();`);
}

const widget = (name: string, replicas = 1) => ({
  metadata: { name, namespace: "shop" },
  spec: { replicas },
});

describe.skipIf(!url)("the PostgreSQL backend", () => {
  it("keeps control planes in different schemas of one database apart", async () => {
    const a = await connectPostgres({ postgres: url, schema: freshSchema() });
    const b = await connectPostgres({ postgres: url, schema: freshSchema() });
    try {
      await a.create(Widget, widget("only-in-a"));
      expect((await b.list(Widget)).items).toEqual([]);
      expect((await a.list(Widget)).items.map((w) => w.metadata.name)).toEqual(["only-in-a"]);
    } finally {
      await a.close();
      await b.close();
      await dropSchemas();
    }
  });

  it("says clearly when it cannot connect, and when the schema is newer than it knows", async () => {
    await expect(
      connectPostgres({ postgres: "postgres://postgres@127.0.0.1:1/postgres" }),
    ).rejects.toThrow("cannot connect to PostgreSQL at 127.0.0.1:1: nothing listens there");
    const schema = freshSchema();
    const backend = await connectPostgres({ postgres: url, schema });
    await backend.close();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`INSERT INTO "${schema}".migrations (version, name) VALUES (99, 'future')`);
    await client.end();
    await expect(connectPostgres({ postgres: url, schema })).rejects.toThrow(
      `the store in schema ${schema} is at version 99, newer than this setpoint knows (2); upgrade setpoint`,
    );
    await expect(connectPostgres({ postgres: url, schema: "Bad-Name" })).rejects.toThrow(
      'schema "Bad-Name" must be lower-case letters',
    );
    await dropSchemas();
  });

  it("upgrades nothing twice: a second connection finds the schema current", async () => {
    const schema = freshSchema();
    const [a, b] = await Promise.all([
      connectPostgres({ postgres: url, schema }),
      connectPostgres({ postgres: url, schema }),
    ]);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query(`SELECT version FROM "${schema}".migrations`);
    await client.end();
    expect(rows).toEqual([{ version: 1 }, { version: 2 }]);
    await a.close();
    await b.close();
    await dropSchemas();
  });

  it("keeps nothing of a write whose COMMIT fails: not its revision, not the dependents it collected, not its event", async () => {
    const schema = freshSchema();
    const backend = await connectPostgres({ postgres: url, schema, pollIntervalMs: 100 });
    try {
      const owner = await backend.create(Widget, widget("owner"));
      const child = await backend.create(Widget, {
        metadata: {
          name: "child",
          namespace: "shop",
          ownerReferences: [
            {
              apiVersion: Widget.apiVersion,
              kind: "Widget",
              name: "owner",
              uid: owner.metadata.uid,
            },
          ],
        },
        spec: { replicas: 1 },
      });
      const watch = backend.watch(Widget, { resourceVersion: child.metadata.resourceVersion });
      const restore = await failCommits(schema);
      await expect(backend.delete(Widget, { namespace: "shop", name: "owner" })).rejects.toThrow(
        /commit refused \(test\)/,
      );
      expect(await backend.get(Widget, { namespace: "shop", name: "owner" })).toEqual(owner);
      expect(await backend.get(Widget, { namespace: "shop", name: "child" })).toEqual(child);
      await restore();
      const after = await backend.create(Widget, widget("after"));
      // The failed write's revisions (the delete's and its collection's) were rolled back.
      expect(Number(after.metadata.resourceVersion)).toBe(
        Number(child.metadata.resourceVersion) + 1,
      );
      const next = await withDeadline(watch.next(), 5_000, "the next event");
      expect(next.value).toEqual({ type: "ADDED", object: after });
      watch.close();
    } finally {
      await backend.close();
      await dropSchemas();
    }
  });

  it("reads a long history one batch ahead of its consumer, not all of it into memory at once", async () => {
    const schema = freshSchema();
    const backend = await connectPostgres({ postgres: url, schema });
    try {
      const start = await backend.create(Widget, widget("start"));
      for (let i = 0; i < 1_200; i += 100)
        await Promise.all(
          Array.from({ length: 100 }, (_, j) => backend.create(Widget, widget(`w${i + j}`))),
        );
      const watch = backend.watch(Widget, { resourceVersion: start.metadata.resourceVersion });
      expect((await watch.next()).value).toMatchObject({ type: "ADDED" });
      // What the watch has not read by now is gone: it can deliver only what it read ahead.
      await backend.compact();
      let delivered = 1;
      let error: unknown;
      try {
        // 1,200 changes after `start`: a watch that read them all delivers them all, then waits.
        while (delivered < 1_200 && !(await watch.next()).done) delivered++;
      } catch (caught) {
        error = caught;
      }
      expect(delivered).toBe(500);
      expect(error).toMatchObject({ reason: "Expired" });
    } finally {
      await backend.close();
      await dropSchemas();
    }
  });

  it("delivers a change whose notification was lost, on its catch-up read", async () => {
    const schema = freshSchema();
    const watching = await connectPostgres({ postgres: url, schema, pollIntervalMs: 100 });
    const writer = await connectPostgres({ postgres: url, schema });
    try {
      const watch = watching.watch(Widget, {});
      // Stop listening, as if the notification never came.
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()",
      );
      await client.end();
      const created = await writer.create(Widget, widget("quiet"));
      const event = await withDeadline(watch.next(), 5_000, "the change, on a catch-up read");
      expect(event.value).toEqual({ type: "ADDED", object: created });
    } finally {
      await watching.close();
      await writer.close();
      await dropSchemas();
    }
  });
});

/** Any fields in its spec, as a CRD with `x-kubernetes-preserve-unknown-fields` takes them. */
const Free = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Free",
  scope: "Namespaced",
  spec: z.looseObject({}),
});

describe.skipIf(!url)("the PostgreSQL backend with input PostgreSQL cannot hold as given", () => {
  it("refuses U+0000 in a key or a dry run as Invalid naming the field, never InternalError (the bug: 500, unsupported Unicode escape sequence)", async () => {
    const schema = freshSchema();
    const backend = await connectPostgres({ postgres: url, schema });
    try {
      const free = (name: string, spec: Record<string, unknown>) => ({
        metadata: { name, namespace: "shop" },
        spec,
      });
      await expect(backend.create(Free, free("key", { "k\u0000": 1 }))).rejects.toMatchObject({
        reason: "Invalid",
        code: 422,
        details: { causes: [{ field: 'spec["k\\u0000"]' }] },
        message: expect.stringContaining("PostgreSQL cannot store U+0000"),
      });
      await expect(
        backend.create(Free, free("dry", { deep: [{ v: "\u0000" }] }), { dryRun: true }),
      ).rejects.toMatchObject({
        reason: "Invalid",
        details: { causes: [{ field: "spec.deep[0].v" }] },
      });
      // The text "\u0000" (a backslash and five characters) is not the character.
      const text = await backend.create(Free, free("text", { v: "\\u0000" }));
      expect((await backend.get(Free, { namespace: "shop", name: "text" })).spec).toEqual(
        text.spec,
      );
      expect((await backend.list(Free)).items.map((o) => o.metadata.name)).toEqual(["text"]);
    } finally {
      await backend.close();
      await dropSchemas();
    }
  });

  it("keeps an owner reference with a uid too long for a btree index (the bug: 500, index row size exceeds btree maximum)", async () => {
    const schema = freshSchema();
    const backend = await connectPostgres({ postgres: url, schema });
    try {
      const owner = await backend.create(Widget, widget("owner"));
      const ref = (uid: string) => ({
        apiVersion: Widget.apiVersion,
        kind: "Widget",
        name: "owner",
        uid,
      });
      // Random, so that PostgreSQL cannot compress it under the limit of 2,704 bytes.
      const long = randomBytes(4_000).toString("hex");
      const dependent = await backend.create(Free, {
        metadata: {
          name: "dependent",
          namespace: "shop",
          ownerReferences: [
            { ...ref(long), apiVersion: "elsewhere.example.com/v1", kind: "Stranger" },
            ref(owner.metadata.uid),
            ref(owner.metadata.uid),
          ],
        },
        spec: {},
      });
      expect(dependent.metadata.ownerReferences?.[0]?.uid).toBe(long);
      // Its owners are still found: deleting the live one leaves the stranger, never held.
      await backend.delete(Widget, { namespace: "shop", name: "owner" });
      expect(await backend.get(Free, { namespace: "shop", name: "dependent" })).toEqual(dependent);
      await backend.delete(Free, { namespace: "shop", name: "dependent" });
    } finally {
      await backend.close();
      await dropSchemas();
    }
  });

  it("collects the dependents a store of schema version 1 recorded, once upgraded", async () => {
    const schema = freshSchema();
    const before = await connectPostgres({ postgres: url, schema });
    const owner = await before.create(Widget, widget("owner"));
    await before.create(Widget, {
      metadata: {
        name: "child",
        namespace: "shop",
        ownerReferences: [
          { apiVersion: Widget.apiVersion, kind: "Widget", name: "owner", uid: owner.metadata.uid },
        ],
      },
      spec: { replicas: 1 },
    });
    await before.close();
    // Back to version 1, as a store written by an earlier setpoint is.
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`
      DROP INDEX "${schema}".owners_by_owner;
      DROP INDEX "${schema}".owners_by_dependent;
      ALTER TABLE "${schema}".owners ADD PRIMARY KEY (owner_uid, kind, namespace, name);
      DELETE FROM "${schema}".migrations WHERE version = 2;`);
    await client.end();
    const after = await connectPostgres({ postgres: url, schema });
    try {
      await after.delete(Widget, { namespace: "shop", name: "owner" });
      expect((await after.list(Widget)).items).toEqual([]);
    } finally {
      await after.close();
      await dropSchemas();
    }
  });

  it("keeps numbers at the ends of a double's range as they were written", async () => {
    const schema = freshSchema();
    const backend = await connectPostgres({ postgres: url, schema });
    try {
      const spec = { big: 1.7976931348623157e308, tiny: 5e-324, negative: -2.5e-300, zero: 0 };
      await backend.create(Free, { metadata: { name: "numbers", namespace: "shop" }, spec });
      expect((await backend.get(Free, { namespace: "shop", name: "numbers" })).spec).toEqual(spec);
    } finally {
      await backend.close();
      await dropSchemas();
    }
  });
});

describe.skipIf(!url)("the PostgreSQL backend when the server restarts", () => {
  it("reconnects, listens again and misses no change", async () => {
    // A server of its own: the shared one serves other tests meanwhile.
    const server = await startTestPostgres();
    const backend = await connectPostgres({ postgres: server.url, pollIntervalMs: 200 });
    const informer = new Informer(backend, Widget, { clock: systemClock });
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    try {
      await informer.cache.ready();
      await backend.create(Widget, widget("before"));
      await eventually(() => expect(informer.cache.get("shop/before")).toBeDefined());

      await server.stopServer();
      await expect(backend.create(Widget, widget("while-down"))).rejects.toMatchObject({
        reason: "ServiceUnavailable",
      });
      await server.startServer();

      // Written by another client, so that only the watch can tell this one about it.
      const other = await connectPostgres({ postgres: server.url });
      await other.create(Widget, widget("after"));
      await other.patch(
        Widget,
        { namespace: "shop", name: "before" },
        {
          type: "merge",
          patch: { spec: { replicas: 7 } },
        },
      );
      await other.close();
      await eventually(
        () => {
          expect(informer.cache.get("shop/after")).toBeDefined();
          expect(informer.cache.get("shop/before")?.spec).toEqual({ replicas: 7 });
        },
        { timeoutMs: 15_000 },
      );
      // And writes work again through the backend that saw the server go.
      await eventually(() => backend.create(Widget, widget("again")), { timeoutMs: 10_000 });
    } finally {
      stop.abort();
      await running;
      await backend.close();
      await server.stop();
    }
  });
});

describe.skipIf(!url)("the PostgreSQL backend when its connections are terminated", () => {
  it("survives the termination of its connections while writes are in flight: failed writes are 503, acknowledged ones are kept, a watch catches up (the bug: pg's 'error' event on a checked-out client ended the process)", async () => {
    const schema = freshSchema();
    // Named, so that only this backend's connections are terminated: other tests share the server.
    const app = `victim_${schema}`;
    const address = new URL(url);
    address.searchParams.set("application_name", app);
    const backend = await connectPostgres({
      postgres: address.toString(),
      schema,
      pollIntervalMs: 100,
    });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on("uncaughtException", onUncaught);
    const watch = backend.watch(Widget, {
      resourceVersion: (await backend.list(Widget)).resourceVersion,
    });
    try {
      const seen = new Set<string>();
      const watching = (async () => {
        for await (const event of watch)
          if (event.type === "ADDED") seen.add(event.object.metadata.name);
      })();
      const acknowledged: string[] = [];
      const failures: unknown[] = [];
      let terminated = 0;
      for (let round = 0; round < 25; round++) {
        const writes = Array.from({ length: 8 }, (_, i) =>
          backend.create(Widget, widget(`w${round}-${i}`)).then(
            (created) => acknowledged.push(created.metadata.name),
            (error: unknown) => failures.push(error),
          ),
        );
        // While they are in flight: connections checked out by write transactions go too.
        const { rows } = await admin.query(
          "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1",
          [app],
        );
        terminated += rows[0].n;
        await Promise.all(writes);
      }
      expect(uncaught).toEqual([]);
      expect(terminated).toBeGreaterThan(0);
      for (const failure of failures)
        expect(failure).toMatchObject({ reason: "ServiceUnavailable", code: 503, retryable: true });
      // The backend reconnects: writes succeed again.
      const after = await eventually(() => backend.create(Widget, widget("after")), {
        timeoutMs: 10_000,
      });
      const stored = new Set((await backend.list(Widget)).items.map((o) => o.metadata.name));
      for (const name of acknowledged) expect(stored).toContain(name);
      // Every change reaches the open watch: what was acknowledged, what a failed COMMIT may
      // have made after all, and the write after.
      await eventually(() => expect(seen).toEqual(stored), { timeoutMs: 10_000 });
      expect(seen).toContain(after.metadata.name);
      watch.close();
      await watching;
    } finally {
      process.off("uncaughtException", onUncaught);
      watch.close();
      await admin.end();
      await backend.close();
      await dropSchemas();
    }
  });
});

describe.skipIf(!url)(
  "the PostgreSQL backend when its connection is terminated while it migrates",
  () => {
    it("fails to connect, and the process lives on (the bug: the migrating client had no 'error' listener)", async () => {
      const schema = freshSchema();
      const app = `migrating_${schema}`;
      const address = new URL(url);
      address.searchParams.set("application_name", app);
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const uncaught: unknown[] = [];
      const onUncaught = (error: unknown) => uncaught.push(error);
      process.on("uncaughtException", onUncaught);
      try {
        // Hold the migrations' lock, so that the migrating client waits, checked out, for it.
        await admin.query("SELECT pg_advisory_lock(hashtext($1))", [`setpoint:${schema}`]);
        const connecting = connectPostgres({ postgres: address.toString(), schema }).then(
          (backend) => backend,
          (error: unknown) => error,
        );
        await eventually(async () => {
          const { rows } = await admin.query(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
            [app],
          );
          expect(rows[0].n).toBe(1);
        });
        await admin.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
          [app],
        );
        expect(await connecting).toMatchObject({
          reason: "ServiceUnavailable",
          message: expect.stringContaining("cannot connect to PostgreSQL"),
        });
        expect(uncaught).toEqual([]);
      } finally {
        process.off("uncaughtException", onUncaught);
        await admin.end();
        await dropSchemas();
      }
    });
  },
);

describe.skipIf(!url)("a control plane on PostgreSQL", () => {
  it("is made at once and used as soon as it is connected", async () => {
    const schema = freshSchema();
    const plane = createControlPlane({ postgres: url, schema });
    const widgets = plane.resources(Widget, { namespace: "shop" });
    const watch = widgets.watch();
    const created = await widgets.create(widget("first"));
    expect((await withDeadline(watch.next(), 5_000, "the first event")).value).toEqual({
      type: "ADDED",
      object: created,
    });
    await plane.ready();
    expect(plane.backend.capabilities).toEqual({ name: "postgres", durable: true });
    watch.close();
    await plane.close();
    await dropSchemas();
  });

  it("reports a store it cannot reach from ready() and from every call", async () => {
    const plane = createControlPlane({ postgres: "postgres://postgres@127.0.0.1:1/postgres" });
    await expect(plane.ready()).rejects.toThrow("cannot connect to PostgreSQL");
    await expect(plane.resources(Widget).list()).rejects.toThrow("cannot connect to PostgreSQL");
    await plane.close();
  });
});

describe.skipIf(!url)("the PostgreSQL backend while the server is down", () => {
  it("tries to listen again calmly, backing off — not a retry per failure", async () => {
    const server = await startTestPostgres();
    const backend = await connectPostgres({ postgres: server.url });
    const watch = backend.watch(Widget, {});
    const connect = pg.Client.prototype.connect;
    let attempts = 0;
    const counting = function (this: pg.Client, ...args: unknown[]) {
      attempts++;
      return (connect as unknown as (...a: unknown[]) => unknown).apply(this, args);
    };
    pg.Client.prototype.connect = counting as unknown as typeof connect;
    try {
      await server.stopServer();
      // Backing off from 0.5 s: about three attempts in the first few seconds.
      await eventually(() => expect(attempts).toBeGreaterThanOrEqual(3), { timeoutMs: 10_000 });
      expect(attempts).toBeLessThanOrEqual(5);
    } finally {
      pg.Client.prototype.connect = connect;
      watch.close();
      await backend.close();
      await server.stop();
    }
  });
});

/** The watch's next event, which must wait until `clock` has moved `ms` on, and come then. */
async function nextAfter(watch: Watch, clock: FakeClock, ms: number, what: string) {
  let settled = false;
  const next = watch.next().finally(() => {
    settled = true;
  });
  await clock.advance(ms - 1);
  expect(settled).toBe(false);
  await clock.advance(1);
  return withDeadline(next, 5_000, what);
}

describe.skipIf(!url)("the PostgreSQL backend on an injected clock", () => {
  it("sends a bookmark once a watch has been quiet for the interval, as the clock tells, with the revision read up to", async () => {
    const clock = new FakeClock();
    const backend = await connectPostgres({ postgres: url, schema: freshSchema(), clock });
    try {
      const created = await backend.create(Widget, widget("a"));
      const watch = backend.watch(Widget, {
        resourceVersion: created.metadata.resourceVersion,
        allowBookmarks: true,
        bookmarkIntervalMs: 60_000,
      });
      expect(await nextAfter(watch, clock, 60_000, "the bookmark")).toEqual({
        done: false,
        value: { type: "BOOKMARK", resourceVersion: created.metadata.resourceVersion },
      });
      watch.close();
    } finally {
      await backend.close();
      await dropSchemas();
    }
  });

  it("reads a change whose notification was lost when the clock says it is time to catch up", async () => {
    const clock = new FakeClock();
    const schema = freshSchema();
    const backend = await connectPostgres({ postgres: url, schema, pollIntervalMs: 100, clock });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const watch = backend.watch(Widget, {
        resourceVersion: (await backend.list(Widget)).resourceVersion,
      });
      // No notifications from now on; reconnecting waits 500 ms on the clock, which stands still.
      // The schema names the channel: only this backend's listening connection goes.
      const listening = `SELECT pid FROM pg_stat_activity WHERE query = 'LISTEN "setpoint_${schema}"'`;
      await admin.query(`SELECT pg_terminate_backend(pid) FROM (${listening}) l`);
      await eventually(async () => expect((await admin.query(listening)).rows).toEqual([]));
      const created = await backend.create(Widget, widget("quiet"));
      expect(await nextAfter(watch, clock, 100, "the change, on the catch-up read")).toEqual({
        done: false,
        value: { type: "ADDED", object: created },
      });
      watch.close();
    } finally {
      await admin.end();
      await backend.close();
      await dropSchemas();
    }
  });
});
