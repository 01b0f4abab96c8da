/**
 * Property-based fuzzing of `setpoint serve` with fast-check, over request paths (unicode,
 * malformed `%` escapes, prototype names), query parameters (booleans, integers, selectors,
 * resource versions, options), bodies (deep, large, unicode, prototype keys, YAML), patches of
 * every type and selectors. For every request:
 *
 * - the answer is never a 500, and every error is a `Status`;
 * - a write answered with an error changed nothing in the store;
 * - the server keeps answering `/version` while it handles the request: a concurrent probe asks
 *   again and again, and the slowest answer bounds how long the server stopped. The aim is
 *   100 ms; the bound asserted is 1 s, for a loaded 2-core machine (the bugs this found held the
 *   server for 5 to 37 s).
 *
 * `npm test` runs a few hundred requests; `FUZZ_RUNS=100000 npm run fuzz` runs long. A failure
 * prints fast-check's seed and the shrunk request; `FUZZ_SEED=<seed>` replays it.
 */
import { request } from "node:http";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createControlPlane, defineKind, Event, MemoryBackend } from "../src/index.js";
import {
  type KubernetesApiServer,
  serveKubernetesApi,
} from "../src/kubernetes/apiserver/server.js";
import { eventually } from "../src/testing/eventually.js";

const runs = Number(process.env.FUZZ_RUNS ?? 300);
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
/** The slowest `/version` may be while a request is handled (see above). */
const probeBoundMs = 1_000;

const Widget = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Widget",
  scope: "Namespaced",
  spec: z.object({
    replicas: z.number().int().min(0),
    labels: z.record(z.string(), z.string()).optional(),
  }),
  scale: { specReplicasPath: ".spec.replicas", statusReplicasPath: ".status.replicas" },
});

let server: KubernetesApiServer;
let backend: MemoryBackend;
beforeAll(async () => {
  backend = new MemoryBackend();
  server = await serveKubernetesApi(createControlPlane({ backend, kinds: [Widget] }), {
    maxBodyBytes: 1024 * 1024,
  });
  // A kind from a CRD, with a pattern and kept unknown fields: ajv and RE2 in the loop.
  const created = await call(
    "POST",
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    JSON.stringify({
      metadata: { name: "gizmos.fuzz.example.com" },
      spec: {
        group: "fuzz.example.com",
        names: { plural: "gizmos", kind: "Gizmo" },
        scope: "Namespaced",
        versions: [
          {
            name: "v1",
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: "object",
                properties: {
                  spec: {
                    type: "object",
                    properties: {
                      name: { type: "string", pattern: "^(a+)+$" },
                      free: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
                    },
                  },
                },
              },
            },
          },
        ],
      },
    }),
  );
  expect(created.status).toBe(201);
  await eventually(async () => expect((await call("GET", `${gizmos}`)).status).toBe(200));
  for (const name of ["w0", "w1", "w2"])
    await call("POST", widgets, JSON.stringify({ metadata: { name }, spec: { replicas: 1 } }));
  await call("POST", gizmos, JSON.stringify({ metadata: { name: "g0" }, spec: { name: "aaa" } }));
});
afterAll(() => server.close());

const widgets = "/apis/example.setpoint.dev/v1/namespaces/default/widgets";
const gizmos = "/apis/fuzz.example.com/v1/namespaces/default/gizmos";
const coreEvents = "/api/v1/namespaces/default/events";
const events = "/apis/events.k8s.io/v1/namespaces/default/events";

interface Reply {
  status: number;
  body: string;
}

/**
 * One request, its path sent as it is; a chunked 200 (a watch, or a list, which is written as
 * the client reads it) is answered as soon as its headers come, then hung up on. Fails if the
 * server does not answer within 20 s.
 */
function call(
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // The path goes as it is: `request(url)` would resolve `..` and `%2e%2e` before sending.
    const { hostname, port } = new URL(server.url);
    const req = request(
      {
        host: hostname,
        port,
        path,
        method,
        headers: {
          "content-type": "application/json",
          ...(body === undefined ? {} : { "content-length": String(Buffer.byteLength(body)) }),
          ...headers,
        },
        timeout: 20_000,
      },
      (res) => {
        if (res.headers["transfer-encoding"] === "chunked" && res.statusCode === 200) {
          req.destroy();
          resolve({ status: 200, body: "" });
          return;
        }
        let text = "";
        res.on("data", (chunk: Buffer) => {
          text += chunk.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => {
      req.destroy();
      reject(new Error(`no answer to ${method} ${path.slice(0, 200)} within 20 s`));
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// ---- what requests are made of ----

const prototypeKeys = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty"];
const key = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "a",
      "name",
      "replicas",
      "labels",
      "spec",
      "metadata",
      "status",
      "free",
    ),
  },
  { weight: 2, arbitrary: fc.constantFrom(...prototypeKeys) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 4 }) },
);
const scalar = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.constantFrom(`${"a".repeat(29)}!`, "aaa", "", "-1"),
);
const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(key, tie("value"), { maxKeys: 4 }),
  ),
}));
/** Nesting at and around the limit, far beyond it, as objects or arrays. */
const deepJson = fc
  .tuple(
    fc.oneof(fc.integer({ min: 95, max: 105 }), fc.integer({ min: 1, max: 50_000 })),
    fc.boolean(),
  )
  .map(([depth, arrays]) =>
    arrays
      ? `${"[".repeat(depth)}1${"]".repeat(depth)}`
      : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`,
  );
const name = fc.oneof(
  fc.constantFrom("w0", "w1", "w2", "g0", "new", "x"),
  fc.string({ unit: "grapheme", maxLength: 12 }),
);
const objectBody = fc
  .record({
    name,
    labels: fc.option(fc.dictionary(key, fc.string({ maxLength: 10 }), { maxKeys: 3 })),
    spec: fc.oneof(
      value,
      fc.record({ replicas: fc.integer({ min: -2, max: 5 }), name: scalar, free: value }),
    ),
    extra: fc.option(fc.dictionary(key, value, { maxKeys: 2 })),
  })
  .map(({ name, labels, spec, extra }) =>
    JSON.stringify({ ...(extra ?? {}), metadata: { name, ...(labels ? { labels } : {}) }, spec }),
  );
const pointer = fc.oneof(
  fc.constantFrom(
    "/spec/replicas",
    "/spec",
    "/metadata/labels/x",
    "/spec/free/a",
    "",
    "/",
    "/spec/-",
    "/__proto__/x",
    "/spec/constructor/prototype/x",
    "/metadata/name",
  ),
  fc
    .array(key, { maxLength: 4 })
    .map((parts) => `/${parts.map((p) => p.replace(/~/g, "~0").replace(/\//g, "~1")).join("/")}`),
);
const operation = fc.record({
  op: fc.constantFrom("add", "remove", "replace", "move", "copy", "test", "nope"),
  path: pointer,
  from: pointer,
  value,
});
const body = fc.oneof(
  { weight: 4, arbitrary: objectBody },
  { weight: 2, arbitrary: value.map((v) => JSON.stringify(v) ?? "null") },
  { weight: 2, arbitrary: fc.array(operation, { maxLength: 5 }).map((ops) => JSON.stringify(ops)) },
  {
    weight: 2,
    arbitrary: deepJson.map(
      (deep) => `{"metadata":{"name":"w1"},"spec":{"replicas":1,"free":${deep}}}`,
    ),
  },
  {
    weight: 1,
    arbitrary: deepJson.map((deep) => `[{"op":"add","path":"/spec/free","value":${deep}}]`),
  },
  { weight: 1, arbitrary: deepJson },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 1, max: 1_200_000 })
      .map((n) => `{"metadata":{"name":"big"},"spec":{"replicas":1,"free":"${"x".repeat(n)}"}}`),
  },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 64 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "metadata:\n  name: y\nspec:\n  replicas: 2\n",
      "a: &a [x]\nb: [*a, *a]\n",
      "[".repeat(200_000),
      "- ".repeat(20_000),
      "{a: ".repeat(5_000),
      `${Array.from({ length: 3_000 }, (_, i) => `k${i}: ${i}`).join("\n")}\n`,
    ),
  },
);
const segment = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      "api",
      "apis",
      "v1",
      "example.setpoint.dev",
      "fuzz.example.com",
      "namespaces",
      "default",
      "widgets",
      "gizmos",
      "w0",
      "w1",
      "g0",
      "status",
      "scale",
      "leases",
      "coordination.k8s.io",
      "events.k8s.io",
      "openapi",
      "v3",
      "version",
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "%zz",
      "%",
      "%E0%A4%A",
      "%00",
      "%2F",
      "..",
      ".",
      "%2e%2e",
      "%2E.",
      "..%5c..",
      "a\\b",
      "__proto__",
      "constructor",
      "%C0%AF",
    ),
  },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 10 }).map(encodeURIComponent) },
);
const structuredPath = fc
  .tuple(
    fc.constantFrom(
      widgets,
      gizmos,
      "/apis/example.setpoint.dev/v1/widgets",
      "/api/v1/namespaces",
      coreEvents,
      events,
      "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    ),
    fc.option(name),
    fc.option(fc.constantFrom("status", "scale", "finalize")),
  )
  .map(
    ([base, n, sub]) =>
      `${base}${n === null ? "" : `/${encodeURIComponent(n)}${sub === null ? "" : `/${sub}`}`}`,
  );
const path = fc.oneof(
  { weight: 3, arbitrary: structuredPath },
  {
    weight: 2,
    arbitrary: fc.array(segment, { minLength: 1, maxLength: 7 }).map((s) => `/${s.join("/")}`),
  },
);
const queryValue = fc.oneof(
  fc.constantFrom(
    "true",
    "True",
    "TRUE",
    "1",
    "t",
    "f",
    "false",
    "0",
    "",
    "yes",
    "All",
    "Strict",
    "Warn",
    "Bogus",
    "Orphan",
    "Background",
    "Foreground",
    "NotOlderThan",
    "Exact",
    "-1",
    "1",
    "1.5",
    "99999999999999999999",
    "abc",
  ),
  fc.string({ unit: "grapheme", maxLength: 16 }),
  fc.constantFrom(
    "a in (",
    "a=b,c!=d",
    "app notin (x,y),!z",
    "x>1",
    "metadata.name=w0",
    "spec.x=1",
    "a\\,b=c",
    "metadata.namespace!=default",
    "reason=Scaled,type!=Normal",
    "involvedObject.name=w0",
    "regarding.kind=Widget",
    "source=x",
  ),
);
const queryName = fc.constantFrom(
  "watch",
  "timeoutSeconds",
  "allowWatchBookmarks",
  "sendInitialEvents",
  "resourceVersion",
  "resourceVersionMatch",
  "limit",
  "continue",
  "labelSelector",
  "fieldSelector",
  "dryRun",
  "fieldValidation",
  "force",
  "propagationPolicy",
  "orphanDependents",
  "gracePeriodSeconds",
  "fieldManager",
  "pretty",
);
const query = fc
  .array(fc.tuple(queryName, queryValue), { maxLength: 4 })
  .map((pairs) =>
    pairs.length === 0
      ? ""
      : `?${pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&")}`,
  );
const contentType = fc.constantFrom(
  "application/json",
  "application/yaml",
  "application/merge-patch+json",
  "application/json-patch+json",
  "application/apply-patch+yaml",
  "application/strategic-merge-patch+json",
  "application/vnd.kubernetes.protobuf",
  "text/plain",
);
const fuzzRequest = fc
  .record({
    method: fc.constantFrom("GET", "GET", "POST", "PUT", "PATCH", "PATCH", "DELETE", "OPTIONS"),
    path,
    query: fc.oneof(fc.constant(""), query),
    // Mostly the content type the method and body call for, so that requests get past it.
    type: fc.option(contentType, { freq: 3 }),
    accept: fc.constantFrom(
      "application/json",
      "application/json;as=Table;v=v1;g=meta.k8s.io",
      "*/*",
    ),
    body,
  })
  .map((r) => ({
    ...r,
    type:
      r.type ??
      (r.method !== "PATCH"
        ? "application/json"
        : r.body.startsWith("[")
          ? "application/json-patch+json"
          : "application/merge-patch+json"),
  }));

/** An object that may well be valid: a Widget's or a Gizmo's spec. */
const validObject = fc
  .record({
    labels: fc.option(
      fc.dictionary(fc.constantFrom("app", "tier", "x"), fc.constantFrom("a", "b", "")),
      { nil: undefined },
    ),
    replicas: fc.nat(5),
    name: fc.constantFrom("a", "aaa", `${"a".repeat(29)}!`),
    free: value,
  })
  .map(
    ({ labels, ...spec }): Record<string, unknown> => ({
      metadata: labels ? { labels } : {},
      spec,
    }),
  );

interface FuzzRequest {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly type: string;
  readonly accept: string;
  readonly body: string | undefined;
}

/** Requests a client could mean: to the right path with the right content type. */
const plausibleRequest: fc.Arbitrary<Omit<FuzzRequest, "type" | "accept"> & { type?: string }> =
  fc.oneof(
    fc
      .tuple(
        fc.constantFrom(widgets, gizmos),
        fc.constantFrom("w0", "w1", "g0", "n1", "n2"),
        fc.oneof(
          validObject,
          objectBody.map((o) => JSON.parse(o) as Record<string, unknown>),
        ),
        fc.oneof(fc.constant(""), query),
        fc.boolean(),
      )
      .map(([base, target, object, q, post]) => {
        const metadata = { ...(object.metadata as object), name: target };
        return post
          ? { method: "POST", path: base, query: q, body: JSON.stringify({ ...object, metadata }) }
          : {
              method: "PUT",
              path: `${base}/${target}`,
              query: q,
              // An update names the version it read: filled in when the request is made.
              body: JSON.stringify({
                ...object,
                metadata: { ...metadata, resourceVersion: "$current" },
              }),
            };
      }),
    fc
      .tuple(
        fc.constantFrom(
          `${widgets}/w0`,
          `${widgets}/w1`,
          `${gizmos}/g0`,
          `${widgets}/w2/status`,
          `${widgets}/w1/scale`,
          `${coreEvents}/e0`,
        ),
        fc.oneof(
          fc
            .dictionary(key, value, { maxKeys: 3 })
            .map((patch) => ["application/merge-patch+json", JSON.stringify({ spec: patch })]),
          fc
            .array(operation, { minLength: 1, maxLength: 3 })
            .map((ops) => ["application/json-patch+json", JSON.stringify(ops)]),
          validObject.map((o) => ["application/apply-patch+yaml", JSON.stringify(o)]),
        ),
        fc.oneof(fc.constant(""), query),
      )
      .map(([path, [type, body], q]) => ({ method: "PATCH", path, query: q, body, type })),
    fc
      .tuple(
        fc.constantFrom(`${widgets}/w0`, `${widgets}/w1`, `${gizmos}/g0`, `${widgets}/n1`),
        fc.option(
          fc
            .record(
              {
                dryRun: fc.constantFrom(["All"], ["Some"], []),
                propagationPolicy: fc.constantFrom("Background", "Orphan", "x"),
              },
              { requiredKeys: [] },
            )
            .map((o) => JSON.stringify(o)),
          { nil: undefined },
        ),
        fc.oneof(fc.constant(""), query),
      )
      .map(([path, body, q]) => ({ method: "DELETE", path, query: q, body })),
  );

/** Events a client could mean, in either API's shape, created or replaced. */
const plausibleEvent = fc
  .tuple(
    fc.boolean(),
    fc.constantFrom("e0", "e1"),
    fc.record({
      reason: fc.constantFrom("Scaled", "", "x".repeat(200)),
      text: fc.oneof(fc.string({ maxLength: 20 }), fc.constant("y".repeat(1100))),
      type: fc.constantFrom("Normal", "Warning", "Bogus"),
      count: fc.integer({ min: -1, max: 3 }),
      time: fc.constantFrom("2026-01-01T00:00:00Z", null, "not a time"),
      object: fc.oneof(
        fc.constant({ kind: "Widget", name: "w0", namespace: "default" }),
        fc.constant({ kind: "Widget", name: "w0", namespace: "other" }),
        value,
      ),
    }),
    fc.oneof(fc.constant(""), query),
    fc.boolean(),
  )
  .map(([core, target, e, q, post]) => {
    const metadata = post ? { name: target } : { name: target, resourceVersion: "$current" };
    const object = core
      ? {
          metadata,
          involvedObject: e.object,
          reason: e.reason,
          message: e.text,
          type: e.type,
          count: e.count,
          firstTimestamp: e.time,
        }
      : {
          metadata,
          regarding: e.object,
          reason: e.reason,
          note: e.text,
          type: e.type,
          eventTime: e.time,
          reportingController: "example.com/fuzz",
          reportingInstance: "fuzz-1",
          action: "Fuzz",
          deprecatedCount: e.count,
        };
    const base = core ? coreEvents : events;
    return post
      ? { method: "POST", path: base, query: q, body: JSON.stringify(object) }
      : { method: "PUT", path: `${base}/${target}`, query: q, body: JSON.stringify(object) };
  });

const anyRequest: fc.Arbitrary<FuzzRequest> = fc.oneof(
  { weight: 1, arbitrary: fuzzRequest },
  {
    weight: 1,
    arbitrary: fc.oneof(plausibleRequest, plausibleEvent).map((r) => ({
      accept: "application/json",
      type: "application/json",
      ...r,
    })),
  },
);

/** The CRD's kind, as the store knows it: only its identity matters for reading. */
const Gizmo = defineKind({
  group: "fuzz.example.com",
  version: "v1",
  kind: "Gizmo",
  scope: "Namespaced",
  spec: z.unknown(),
});

/** What the store holds of the kinds the fuzz writes, to compare before and after a request. */
async function snapshot(): Promise<string> {
  const [w, g, e] = await Promise.all([
    backend.list(Widget),
    backend.list(Gizmo),
    backend.list(Event),
  ]);
  return JSON.stringify([w.items, g.items, e.items]);
}

describe("serve under property-based fuzzing", () => {
  it(
    "never answers 500, changes nothing on a failed write, and keeps answering /version",
    async () => {
      await fc.assert(
        fc.asyncProperty(anyRequest, async (r) => {
          const write = r.method !== "GET" && r.method !== "OPTIONS";
          // Writes to CRDs would set off the server's own status writes: leave them to the tests.
          const before = write ? await snapshot() : "";
          const current = (
            JSON.parse(before || "[]") as {
              metadata: { name: string; resourceVersion: string };
            }[][]
          )
            .flat()
            .find((o) => r.path.endsWith(`/${o.metadata.name}`));
          const sent = r.body?.replace(
            '"$current"',
            JSON.stringify(current?.metadata.resourceVersion ?? "1"),
          );
          let done = false;
          let slowestMs = 0;
          const probing = (async () => {
            while (!done) {
              const started = performance.now();
              const version = await call("GET", "/version");
              expect(version.status).toBe(200);
              slowestMs = Math.max(slowestMs, performance.now() - started);
            }
          })();
          let reply: Reply;
          try {
            reply = await call(r.method, `${r.path}${r.query}`, write ? sent : undefined, {
              "content-type": r.type,
              accept: r.accept,
            });
          } finally {
            done = true;
            await probing;
          }
          const what = `${r.method} ${r.path}${r.query} (${r.type}) → ${reply.status} ${reply.body.slice(0, 300)}`;
          expect(reply.status, what).toBeGreaterThanOrEqual(200);
          expect(reply.status, what).not.toBe(500);
          // 504 is Kubernetes' answer to a list from a future resourceVersion.
          if (reply.status >= 500) expect(reply.body, what).toContain('"reason":"Timeout"');
          if (reply.status >= 400) expect(reply.body, what).toContain('"kind":"Status"');
          if (write && reply.status >= 400)
            expect(await snapshot(), `a failed write changed the store: ${what}`).toBe(before);
          expect(
            slowestMs,
            `/version waited ${slowestMs.toFixed(0)} ms during ${what}`,
          ).toBeLessThan(probeBoundMs);
        }),
        { numRuns: runs, ...(seed === undefined ? {} : { seed }) },
      );
    },
    Math.max(60_000, runs * 200),
  );
});
