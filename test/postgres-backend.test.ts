/**
 * The PostgreSQL backend against a real PostgreSQL 15: the whole backend conformance suite, then
 * what is PostgreSQL's own — schemas side by side, migrations, notifications lost or dropped.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { createControlPlane, defineKind, Informer, systemClock } from "../src/index.js";
import { connectPostgres, type PostgresBackend } from "../src/postgres/index.js";
import { runBackendConformance } from "../src/testing/conformance.js";
import { eventually, withDeadline } from "../src/testing/eventually.js";
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

const Widget = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Widget",
  scope: "Namespaced",
  spec: z.object({ replicas: z.number().int().min(0) }),
});
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
      `the store in schema ${schema} is at version 99, newer than this setpoint knows (1); upgrade setpoint`,
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
    expect(rows).toEqual([{ version: 1 }]);
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
