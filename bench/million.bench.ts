/**
 * A million objects (`BENCH=million npm run bench`; not in the default run: it takes minutes and
 * a few GB of heap — `BENCH_MILLION=N` for another count):
 * - the memory store: heap per object, a full list and a paginated one, a watcher resuming
 *   10,000 changes back (catching up on the history), and a cold controller start (every object
 *   listed, cached and reconciled once by a no-op reconcile at concurrency 16);
 * - PostgreSQL (a throwaway server; the rows are written by SQL in one statement, as a restore
 *   would, then read through the backend): a paginated list, and a watch resuming 10,000
 *   changes back within the change history.
 */
import pg from "pg";
import {
  type Backend,
  controller,
  createControlPlane,
  Manager,
  MemoryBackend,
  silentLogger,
} from "../src/index.js";
import { connectPostgres } from "../src/postgres/index.js";
import { startTestPostgres } from "../src/testing/postgres.js";
import { BenchWidget, benchWidget } from "./objects.js";
import { heapUsed, rate, table } from "./report.js";

const million = Number(process.env.BENCH_MILLION ?? 1_000_000);
const behind = Math.min(10_000, Math.floor(million / 2));

async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await run();
  return { ms: performance.now() - started, value };
}

/** Every page of a list of 500, counting the items. */
async function pagedList(
  list: (token?: string) => Promise<{ items: readonly unknown[]; continue?: string }>,
) {
  let token: string | undefined;
  let items = 0;
  do {
    const page = await list(token);
    items += page.items.length;
    token = page.continue;
  } while (token);
  return items;
}

async function memory(rows: string[][]): Promise<void> {
  const before = heapUsed();
  const backend = new MemoryBackend();
  const plane = createControlPlane({ backend });
  const widgets = plane.resources(BenchWidget);
  const made = await timed(async () => {
    for (let i = 0; i < million; i++) await widgets.create(benchWidget(i));
  });
  rows.push(["memory: create one at a time", rate(million, made.ms)]);
  const perObject = (heapUsed() - before) / million;
  const json = Buffer.byteLength(
    JSON.stringify(await widgets.get({ namespace: "team-1", name: "widget-1" })),
  );
  rows.push([
    "memory: heap per object (objects, index, history)",
    `${perObject.toFixed(0)} B = ${(perObject / json).toFixed(2)}× JSON`,
  ]);

  const all = await timed(() => widgets.list());
  rows.push([`memory: list all ${million.toLocaleString("en-US")}`, `${all.ms.toFixed(0)} ms`]);
  const paged = await timed(() =>
    pagedList((token) => widgets.list({ limit: 500, ...(token ? { continue: token } : {}) })),
  );
  rows.push([
    `memory: list in pages of 500 (${paged.value.toLocaleString("en-US")} items)`,
    `${paged.ms.toFixed(0)} ms`,
  ]);

  // A watcher that was 10,000 changes behind catches up from the history.
  const { resourceVersion } = await widgets.list({ limit: 1 });
  for (let i = 0; i < behind; i++)
    await widgets.patch(
      { namespace: `team-${i % 20}`, name: `widget-${i}` },
      { type: "merge", patch: { spec: { replicas: 7 } } },
    );
  const caughtUp = await timed(() => catchUp(backend, resourceVersion));
  rows.push([
    `memory: a watcher ${behind.toLocaleString("en-US")} changes behind catches up`,
    `${caughtUp.ms.toFixed(0)} ms (${rate(behind, caughtUp.ms)})`,
  ]);

  // A cold start: list, cache and reconcile every object once.
  let reconciled = 0;
  let allDone!: () => void;
  const done = new Promise<void>((resolve) => {
    allDone = resolve;
  });
  const manager = new Manager({ plane, logger: silentLogger() }).add(
    controller(BenchWidget, {
      name: "widgets",
      concurrency: 16,
      resyncMs: 0,
      reconcile() {
        if (++reconciled === million) allDone();
      },
    }) as never,
  );
  const stop = new AbortController();
  const start = await timed(async () => {
    const running = manager.run({ signal: stop.signal });
    await done;
    stop.abort();
    await running;
  });
  rows.push([
    "memory: cold controller start (list, cache, reconcile each once)",
    `${(start.ms / 1000).toFixed(1)} s (${rate(million, start.ms)})`,
  ]);
  await plane.close();
}

async function postgres(rows: string[][]): Promise<void> {
  const server = await startTestPostgres();
  const pool = new pg.Pool({ connectionString: server.url, max: 4 });
  try {
    const backend = await connectPostgres({ postgres: server.url, schema: "million" });
    const plane = createControlPlane({ backend });
    const widgets = plane.resources(BenchWidget);
    // One object per namespace through the backend (the kind's row, the namespaces, the shape),
    // the rest by SQL, as a restore would write them.
    for (let i = 1; i < 20; i++) await widgets.create(benchWidget(i));
    const first = await widgets.create(benchWidget(0));
    const loaded = await timed(async () => {
      await pool.query(
        `INSERT INTO million.objects (kind, namespace, name, uid, revision, object)
         SELECT k.kind, o.ns, o.name, o.uid, o.rev,
                jsonb_set(jsonb_set(jsonb_set(jsonb_set($2::jsonb,
                  '{metadata,name}', to_jsonb(o.name)), '{metadata,namespace}', to_jsonb(o.ns)),
                  '{metadata,uid}', to_jsonb(o.uid)), '{metadata,resourceVersion}', to_jsonb(o.rev::text))
           FROM (SELECT 'team-' || (i % 20) AS ns, 'widget-' || i AS name, md5(i::text) AS uid,
                        (SELECT value FROM million.revision) + i AS rev
                   FROM generate_series(20, $1::int - 1) AS i) o,
                (SELECT kind FROM million.objects WHERE name = 'widget-0') k`,
        [million, JSON.stringify(first)],
      );
      await pool.query("UPDATE million.revision SET value = value + $1::int", [million]);
      await pool.query(
        "UPDATE million.kinds SET last_change = (SELECT value FROM million.revision)",
      );
      await pool.query("ANALYZE million.objects");
    });
    rows.push([
      `PostgreSQL: ${million.toLocaleString("en-US")} rows written by one INSERT … SELECT`,
      `${(loaded.ms / 1000).toFixed(1)} s`,
    ]);
    const paged = await timed(() =>
      pagedList((token) =>
        backend.list(BenchWidget, { limit: 500, ...(token ? { continue: token } : {}) }),
      ),
    );
    rows.push([
      `PostgreSQL: list in pages of 500 (${paged.value.toLocaleString("en-US")} items)`,
      `${(paged.ms / 1000).toFixed(1)} s (${rate(paged.value, paged.ms)})`,
    ]);
    const { resourceVersion } = await backend.list(BenchWidget, { limit: 1 });
    for (let i = 1; i <= behind; i += 100)
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          widgets.patch(
            { namespace: `team-${(i + j) % 20}`, name: `widget-${i + j}` },
            { type: "merge", patch: { spec: { replicas: 7 } } },
          ),
        ),
      );
    const caughtUp = await timed(() => catchUp(backend, resourceVersion));
    rows.push([
      `PostgreSQL: a watch ${behind.toLocaleString("en-US")} changes behind catches up`,
      `${caughtUp.ms.toFixed(0)} ms (${rate(behind, caughtUp.ms)})`,
    ]);
    await backend.close();
  } finally {
    await pool.end();
    await server.stop();
  }
}

/** Watches from `resourceVersion` until {@link behind} changes came. */
async function catchUp(backend: Backend, resourceVersion: string): Promise<void> {
  const watch = backend.watch(BenchWidget, { resourceVersion });
  let seen = 0;
  for await (const event of watch) if (event.type !== "BOOKMARK" && ++seen === behind) break;
  watch.close();
}

export async function millionBenchmarks(): Promise<void> {
  const rows: string[][] = [];
  await memory(rows);
  await postgres(rows);
  table(`${million.toLocaleString("en-US")} objects`, ["measure", "result"], rows);
}
