/**
 * `setpoint serve` against the served-API attacks of issue 10: ReDoS through CRD patterns, deep
 * nesting, CRDs that take over kinds, 500s that should be 4xx, prototype keys, the bearer token,
 * and query parameters read as the Kubernetes API server reads them. Each test names the bug it
 * keeps fixed.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createControlPlane, DurableBackend, defineKind, MemoryBackend } from "../src/index.js";
import {
  type KubernetesApiServer,
  serveKubernetesApi,
} from "../src/kubernetes/apiserver/server.js";
import { CustomResourceDefinition } from "../src/kubernetes/builtin-kinds.js";
import { eventually, withDeadline } from "../src/testing/eventually.js";
import { ExampleWidget as Widget } from "../src/testing/fixtures.js";
import { whileProbing as probing } from "./support/probe.js";

let server: KubernetesApiServer;
let backend: MemoryBackend;
let plane: ReturnType<typeof createControlPlane>;
beforeAll(async () => {
  backend = new MemoryBackend();
  plane = createControlPlane({ backend, kinds: [Widget] });
  server = await serveKubernetesApi(plane);
});
afterAll(() => server.close());

interface Reply {
  status: number;
  body: string;
  json(): Record<string, unknown>;
}

function call(
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
  base = server.url,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}${path}`,
      {
        method,
        headers: {
          "content-type": "application/json",
          // Node sends a DELETE's body without chunking: say how long it is.
          ...(body === undefined ? {} : { "content-length": String(Buffer.byteLength(body)) }),
          ...headers,
        },
      },
      (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => {
          text += chunk.toString();
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: text, json: () => JSON.parse(text) }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Opens a watch and resolves with its status and first `lines` lines, then hangs up. */
function watchLines(path: string, lines: number): Promise<{ status: number; lines: unknown[] }> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}${path}`, (res) => {
      let text = "";
      const done = () => {
        req.destroy();
        resolve({
          status: res.statusCode ?? 0,
          lines: text
            .split("\n")
            .filter(Boolean)
            .slice(0, lines)
            .map((l) => JSON.parse(l)),
        });
      };
      if (lines === 0) return done();
      res.on("data", (chunk: Buffer) => {
        text += chunk.toString();
        if (text.split("\n").length > lines) done();
      });
      res.on("end", done);
    });
    req.on("error", reject);
    req.end();
  });
}

const widgets = "/apis/example.setpoint.dev/v1/namespaces/default/widgets";
const crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

/** `{"a":{"a":…1…}}`, `depth` objects deep, as text (building it as a value would overflow). */
const nestedJson = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;

function crd(
  group: string,
  plural: string,
  kind: string,
  spec: Record<string, unknown> = { type: "object", "x-kubernetes-preserve-unknown-fields": true },
  name = `${plural}.${group}`,
) {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name },
    spec: {
      group,
      names: { plural, kind },
      scope: "Namespaced",
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: "object", properties: { spec } } },
        },
      ],
    },
  };
}

async function established(name: string): Promise<void> {
  await eventually(async () => {
    const got = (await call("GET", `${crds}/${name}`)).json() as {
      status?: { conditions?: { type: string; status: string }[] };
    };
    expect(got.status?.conditions).toContainEqual(
      expect.objectContaining({ type: "Established", status: "True" }),
    );
  });
}

describe("ReDoS through CRD patterns (issue 10, item 7)", () => {
  it("runs a CRD's pattern in linear time: ^(a+)+$ against 29 a's and a ! is refused at once", async () => {
    const created = await call(
      "POST",
      crds,
      JSON.stringify(
        crd("redos.example.com", "traps", "Trap", {
          type: "object",
          properties: { name: { type: "string", pattern: "^(a+)+$" } },
        }),
      ),
    );
    expect(created.status).toBe(201);
    await established("traps.redos.example.com");
    const path = "/apis/redos.example.com/v1/namespaces/default/traps";
    const started = performance.now();
    const reply = await call(
      "POST",
      path,
      JSON.stringify({ metadata: { name: "t" }, spec: { name: `${"a".repeat(29)}!` } }),
    );
    // The backtracking engine took 37 s for this one; RE2 takes well under a millisecond.
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(reply.json()).toMatchObject({
      code: 422,
      details: { causes: [{ field: "spec.name" }] },
    });
    expect(
      (
        await call(
          "POST",
          path,
          JSON.stringify({ metadata: { name: "t" }, spec: { name: "a".repeat(100_000) } }),
        )
      ).status,
    ).toBe(201);
  });

  it("refuses a CRD whose pattern RE2 cannot run (a backreference) with 422", async () => {
    const reply = await call(
      "POST",
      crds,
      JSON.stringify(
        crd("backref.example.com", "echoes", "Echo", {
          type: "object",
          properties: { name: { type: "string", pattern: "^(a)\\1$" } },
        }),
      ),
    );
    expect(reply.json()).toMatchObject({
      code: 422,
      reason: "Invalid",
      details: {
        causes: [
          expect.objectContaining({
            field:
              "spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.name.pattern",
          }),
        ],
      },
    });
  });
});

describe("deep nesting (issue 10, item 8)", () => {
  it("refuses an object nested 2,200 levels with 422 and stores nothing, so lists keep working", async () => {
    for (const depth of [101, 2_200, 2_205, 100_000]) {
      const reply = await call(
        "POST",
        widgets,
        `{"metadata":{"name":"deep-${depth}"},"spec":{"replicas":1,"x":${nestedJson(depth)}}}`,
      );
      expect(reply.json(), `${depth} levels`).toMatchObject({ code: 422, reason: "Invalid" });
      expect((await call("GET", `${widgets}/deep-${depth}`)).status).toBe(404);
    }
    expect((await call("GET", widgets)).status).toBe(200);
  });

  it("refuses deep merge and JSON patches with 422 and leaves the object as it was", async () => {
    await call(
      "POST",
      widgets,
      JSON.stringify({ metadata: { name: "shallow" }, spec: { replicas: 1 } }),
    );
    const before = (await call("GET", `${widgets}/shallow`)).body;
    for (const [type, body] of [
      ["application/merge-patch+json", `{"spec":${nestedJson(100_000)}}`],
      ["application/apply-patch+yaml", `{"spec":${nestedJson(3_000)}}`],
      [
        "application/json-patch+json",
        `[{"op":"add","path":"/spec/x","value":${nestedJson(100_000)}}]`,
      ],
    ] as const) {
      const reply = await call("PATCH", `${widgets}/shallow`, body, { "content-type": type });
      expect(reply.status, type).toBeGreaterThanOrEqual(400);
      expect(reply.status, type).toBeLessThan(500);
    }
    // Copies that nest the object into itself, one level per operation.
    const copies = Array.from({ length: 150 }, (_, i) => ({
      op: "copy",
      from: "/spec",
      path: `/spec/c${i}`,
    }));
    const reply = await call("PATCH", `${widgets}/shallow`, JSON.stringify(copies), {
      "content-type": "application/json-patch+json",
    });
    expect(reply.status).toBeGreaterThanOrEqual(400);
    expect(reply.status).toBeLessThan(500);
    expect((await call("GET", `${widgets}/shallow`)).body).toBe(before);
  });
});

const whileProbing = <T>(work: Promise<T>) => probing(work, () => call("GET", "/version"));

describe("YAML bodies that take long to parse (found by the fuzz, issue 10)", () => {
  it("keeps answering /version while a YAML body of 25,000 keys is parsed", async () => {
    const yaml = `metadata:\n  name: many-keys\nspec:\n  replicas: 1\n${Array.from({ length: 25_000 }, (_, i) => `  k${i}: ${i}`).join("\n")}\n`;
    const { result, slowestMs } = await whileProbing(
      call("POST", widgets, yaml, { "content-type": "application/yaml" }),
    );
    expect(result.status).toBe(201);
    // Parsed on the event loop, this body stopped the server for seconds (the yaml library's
    // duplicate-key check is quadratic); a generous bound for a loaded machine.
    expect(slowestMs).toBeLessThan(1_000);
  });

  it("refuses YAML flow collections nested 1,000,000 deep with 400, without blocking or crashing the server", async () => {
    // Parsed on the event loop, 300,000 of them ran V8 out of memory: the process died.
    const { result, slowestMs } = await whileProbing(
      call("POST", widgets, "[".repeat(1_000_000), { "content-type": "application/yaml" }),
    );
    expect(result.json()).toMatchObject({ code: 400, reason: "BadRequest" });
    expect(slowestMs).toBeLessThan(1_000);
  });
});

describe("CRDs that take over kinds (issue 10, item 9)", () => {
  const causes = (reply: Reply) =>
    ((reply.json().details as { causes?: { field: string }[] } | undefined)?.causes ?? []).map(
      (c) => c.field,
    );

  it("refuses a CRD whose name is not <plural>.<group> with 422 on metadata.name", async () => {
    const reply = await call(
      "POST",
      crds,
      JSON.stringify(crd("names.example.com", "things", "Thing", undefined, "other.example.com")),
    );
    expect(reply.status).toBe(422);
    expect(causes(reply)).toContain("metadata.name");
    const generated = crd("names.example.com", "things", "Thing");
    const withGenerateName = { ...generated, metadata: { generateName: "things." } };
    expect((await call("POST", crds, JSON.stringify(withGenerateName))).status).toBe(422);
  });

  it("refuses CRDs in the core group, a group without a dot and Kubernetes' own groups", async () => {
    for (const [group, plural, kind] of [
      ["", "namespaces", "Namespace"],
      ["local", "things", "Thing"],
      ["coordination.k8s.io", "leases", "Lease"],
      ["widgets.kubernetes.io", "gadgets", "Gadget"],
    ] as const) {
      const reply = await call("POST", crds, JSON.stringify(crd(group, plural, kind)));
      expect(reply.status, group).toBe(422);
      expect(causes(reply), group).toContain("spec.group");
    }
  });

  it("refuses a CRD that redefines a module's kind, whose zod schema stays in force", async () => {
    // The module's kind is served as a CRD of that name already: a second one is a conflict.
    const same = await call(
      "POST",
      crds,
      JSON.stringify(crd("example.setpoint.dev", "widgets", "Widget")),
    );
    expect(same.status).toBe(409);
    expect(same.json()).toMatchObject({ reason: "AlreadyExists" });
    // Under another plural, the kind is still taken.
    const reply = await call(
      "POST",
      crds,
      JSON.stringify(crd("example.setpoint.dev", "widgetz", "Widget")),
    );
    expect(reply.status).toBe(422);
    expect(causes(reply)).toContain("spec.names.kind");
    const open = await call(
      "POST",
      widgets,
      JSON.stringify({ metadata: { name: "open" }, spec: { replicas: -5, anything: true } }),
    );
    expect(open.status).toBe(422);
  });

  it("refuses a CRD with a schema that is not structural (untyped, $ref, uniqueItems)", async () => {
    for (const schema of [
      { type: "object", properties: { a: {} } },
      { type: "object", properties: { a: { $ref: "#/x" } } },
      {
        type: "object",
        properties: { a: { type: "array", uniqueItems: true, items: { type: "string" } } },
      },
      { type: "object", properties: { a: { type: "array" } } },
    ]) {
      const reply = await call(
        "POST",
        crds,
        JSON.stringify(crd("structural.example.com", "shapes", "Shape", schema)),
      );
      expect(reply.status, JSON.stringify(schema)).toBe(422);
    }
  });

  it("refuses, in the store itself, a CRD written through the typed client that breaks the rules", async () => {
    await expect(
      plane.resources(CustomResourceDefinition).create(crd("", "namespaces", "Namespace") as never),
    ).rejects.toMatchObject({ reason: "Invalid" });
    await expect(
      plane
        .resources(CustomResourceDefinition)
        .create(crd("coordination.k8s.io", "leases", "Lease") as never),
    ).rejects.toMatchObject({ reason: "Invalid" });
  });

  it("does not serve a stored CRD that would take over Namespace, Lease or a module's kind", async () => {
    // CRDs stored past every check (as an older version could have stored them in a durable
    // store): a lookalike CRD kind without the rules writes them into the same table.
    const LooseCrd = defineKind({
      group: "apiextensions.k8s.io",
      version: "v1",
      kind: "CustomResourceDefinition",
      scope: "Cluster",
      spec: z.record(z.string(), z.unknown()),
    });
    const store = new MemoryBackend();
    for (const bad of [
      crd("", "namespaces", "Namespace", undefined, "namespaces"),
      crd("coordination.k8s.io", "leases", "Lease"),
      crd("example.setpoint.dev", "widgets", "Widget"),
    ])
      await store.create(LooseCrd, bad as never);
    const taken = await serveKubernetesApi(createControlPlane({ backend: store, kinds: [Widget] }));
    try {
      const base = taken.url;
      expect((await call("GET", "/api/v1/namespaces", undefined, {}, base)).status).toBe(200);
      const lease = await call(
        "POST",
        "/apis/coordination.k8s.io/v1/namespaces/default/leases",
        JSON.stringify({ metadata: { name: "l" }, spec: { leaseDurationSeconds: "forever" } }),
        {},
        base,
      );
      expect(lease.status).toBe(422);
      const open = await call(
        "POST",
        widgets,
        JSON.stringify({ metadata: { name: "open" }, spec: { replicas: -5 } }),
        {},
        base,
      );
      expect(open.status).toBe(422);
      // Each says why it is not served.
      await eventually(async () => {
        const got = (
          await call("GET", `${crds}/leases.coordination.k8s.io`, undefined, {}, base)
        ).json() as { status?: { conditions?: { type: string; status: string }[] } };
        expect(got.status?.conditions).toContainEqual(
          expect.objectContaining({ type: "NamesAccepted", status: "False" }),
        );
      });
    } finally {
      await taken.close();
    }
  });

  it("keeps a conflicting CRD unserved and says why in its conditions", async () => {
    // A CRD of a new group is fine; a second CRD claiming its kind under another plural is not.
    expect(
      (await call("POST", crds, JSON.stringify(crd("pair.example.com", "firsts", "Pair")))).status,
    ).toBe(201);
    await established("firsts.pair.example.com");
    const second = await call(
      "POST",
      crds,
      JSON.stringify(crd("pair.example.com", "seconds", "Pair")),
    );
    expect(second.status).toBe(422);
    expect(causes(second)).toContain("spec.names.kind");
  });
});

describe("500s that should be 4xx (issue 10, item 10)", () => {
  it("answers a malformed % escape in the path with 400, not 500", async () => {
    for (const path of ["/api/v1/namespaces/%zz", `${widgets}/%E0%A4%A`, "/apis/%/v1/x"]) {
      const reply = await call("GET", path);
      expect(reply.status, path).toBe(400);
      expect(reply.json()).toMatchObject({ kind: "Status", reason: "BadRequest" });
    }
  });

  it("answers JSON patches through __proto__, moves into their own child and copies of inherited members with 422", async () => {
    await call("POST", widgets, JSON.stringify({ metadata: { name: "p" }, spec: { replicas: 1 } }));
    for (const ops of [
      [{ op: "add", path: "/spec/__proto__/polluted", value: 1 }],
      [{ op: "add", path: "/__proto__/polluted", value: 1 }],
      [{ op: "replace", path: "/spec/constructor/prototype/polluted", value: 1 }],
      [{ op: "move", from: "/spec", path: "/spec/x" }],
      [{ op: "copy", from: "/spec/constructor", path: "/spec/c" }],
    ]) {
      const reply = await call("PATCH", `${widgets}/p`, JSON.stringify(ops), {
        "content-type": "application/json-patch+json",
      });
      expect(reply.status, JSON.stringify(ops)).toBe(422);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("does not let a merge patch write through __proto__: it is an ordinary key", async () => {
    const reply = await call(
      "PATCH",
      `${widgets}/p`,
      '{"spec":{"__proto__":{"polluted":1},"replicas":2}}',
      { "content-type": "application/merge-patch+json" },
    );
    expect(reply.json()).toMatchObject({ spec: { replicas: 2 } });
    // At the top level it is a field no object has, refused as any unknown field is.
    const top = await call("PATCH", `${widgets}/p`, '{"__proto__":{"polluted":1}}', {
      "content-type": "application/merge-patch+json",
    });
    expect(top.json()).toMatchObject({ code: 422, details: { causes: [{ field: "__proto__" }] } });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const stored = await plane.resources(Widget, { namespace: "default" }).get("p");
    expect(Object.getPrototypeOf(stored.spec)).toBe(Object.prototype);
    expect((stored.spec as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("answers a watch with a malformed resourceVersion or selector with 400 before the stream starts", async () => {
    for (const query of [
      "resourceVersion=abc",
      "labelSelector=a%20in%20(",
      "fieldSelector=spec.x%3D1",
      "timeoutSeconds=soon",
    ]) {
      const reply = await call("GET", `${widgets}?watch=true&${query}`);
      expect(reply.status, query).toBe(400);
      expect(reply.json()).toMatchObject({ kind: "Status", code: 400 });
    }
  });

  it("requires the bearer token, compared as a digest", async () => {
    const guarded = await serveKubernetesApi(createControlPlane(), { token: "s3cret" });
    try {
      // The scheme's case does not matter (Kubernetes reads it so): test/serve-second-attack.
      for (const authorization of [undefined, "Bearer s3cre", "Bearer s3cret2", "Basic s3cret"]) {
        const reply = await call(
          "GET",
          "/api/v1/namespaces",
          undefined,
          authorization === undefined ? {} : { authorization },
          guarded.url,
        );
        expect(reply.status, authorization).toBe(401);
      }
      const ok = await call(
        "GET",
        "/api/v1/namespaces",
        undefined,
        { authorization: "Bearer s3cret" },
        guarded.url,
      );
      expect(ok.status).toBe(200);
    } finally {
      await guarded.close();
    }
  });
});

describe("query parameters read as the API server reads them (issue 10, item 11)", () => {
  it("reads booleans as Go's ParseBool: watches on watch=True (what the official Python client sends), t or 1, lists on False, f or 0, and refuses other spellings", async () => {
    await call("POST", widgets, JSON.stringify({ metadata: { name: "q" }, spec: { replicas: 1 } }));
    for (const value of ["True", "true", "1", "TRUE", "t"]) {
      const { status, lines } = await watchLines(`${widgets}?watch=${value}`, 1);
      expect(status).toBe(200);
      expect(lines[0], value).toMatchObject({ type: "ADDED" });
    }
    for (const value of ["false", "False", "0", "FALSE", "f", "F"]) {
      const reply = await call("GET", `${widgets}?watch=${value}`);
      expect(reply.json(), value).toMatchObject({ kind: "WidgetList" });
    }
    for (const value of ["yes", "", "tru"]) {
      const reply = await call("GET", `${widgets}?watch=${value}`);
      expect(reply.status, value).toBe(400);
      expect(reply.json().message, value).toContain("invalid value for watch");
    }
  });

  it("answers integers that do not parse with 400: limit=abc, timeoutSeconds=1.5", async () => {
    for (const query of ["limit=abc", "limit=1e3", "limit=99999999999999999999"]) {
      expect((await call("GET", `${widgets}?${query}`)).status, query).toBe(400);
    }
    expect((await call("GET", `${widgets}?limit=-1`)).status).toBe(200);
    expect((await call("GET", `${widgets}?watch=1&timeoutSeconds=1.5`)).status).toBe(400);
  });

  it("ends a watch with a negative timeoutSeconds at once", async () => {
    const { metadata } = (await call("GET", widgets)).json() as {
      metadata: { resourceVersion: string };
    };
    const reply = await call(
      "GET",
      `${widgets}?watch=true&timeoutSeconds=-1&resourceVersion=${metadata.resourceVersion}`,
    );
    expect(reply.status).toBe(200);
    expect(reply.body).toBe("");
  });

  it("answers dryRun and fieldValidation values Kubernetes does not define with 422, and writes nothing", async () => {
    const body = JSON.stringify({ metadata: { name: "dry" }, spec: { replicas: 1 } });
    for (const query of ["dryRun=true", "dryRun=", "fieldValidation=Bogus"]) {
      const reply = await call("POST", `${widgets}?${query}`, body);
      expect(reply.json(), query).toMatchObject({ code: 422, reason: "Invalid" });
    }
    expect((await call("POST", `${widgets}?dryRun=All`, body)).status).toBe(201);
    expect((await call("GET", `${widgets}/dry`)).status).toBe(404);
  });

  it("honours dryRun in a DELETE body, as kubectl delete --dry-run=server sends it", async () => {
    await call(
      "POST",
      widgets,
      JSON.stringify({ metadata: { name: "kept" }, spec: { replicas: 1 } }),
    );
    const reply = await call(
      "DELETE",
      `${widgets}/kept`,
      JSON.stringify({
        kind: "DeleteOptions",
        apiVersion: "v1",
        dryRun: ["All"],
        propagationPolicy: "Background",
      }),
    );
    expect(reply.status, reply.body).toBe(200);
    expect((await call("GET", `${widgets}/kept`)).status).toBe(200);
  });

  it("refuses an Orphan propagation policy it cannot keep, and unknown ones, with 422", async () => {
    for (const [path, body] of [
      [`${widgets}/kept?propagationPolicy=Orphan`, undefined],
      [`${widgets}/kept`, JSON.stringify({ propagationPolicy: "Orphan" })],
      [`${widgets}/kept`, JSON.stringify({ orphanDependents: true })],
      [`${widgets}/kept?propagationPolicy=Sometimes`, undefined],
    ] as const) {
      const reply = await call("DELETE", path, body);
      expect(reply.status, `${path} ${body}`).toBe(422);
    }
    expect((await call("DELETE", `${widgets}/kept`, '{"preconditions":{"uid":5}}')).status).toBe(
      400,
    );
    expect((await call("GET", `${widgets}/kept`)).status).toBe(200);
    expect((await call("DELETE", `${widgets}/kept?propagationPolicy=Foreground`)).status).toBe(200);
  });

  it("refuses force on a patch that is not an apply, with 422", async () => {
    const reply = await call("PATCH", `${widgets}/q?force=true`, '{"spec":{"replicas":3}}', {
      "content-type": "application/merge-patch+json",
    });
    expect(reply.status).toBe(422);
  });

  it("sends initial events and an initial-events-end bookmark for sendInitialEvents=true, and refuses it on a list", async () => {
    const { status, lines } = await watchLines(
      `${widgets}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&fieldSelector=metadata.name%3Dq`,
      2,
    );
    expect(status).toBe(200);
    expect(lines[0]).toMatchObject({ type: "ADDED", object: { metadata: { name: "q" } } });
    expect(lines[1]).toMatchObject({
      type: "BOOKMARK",
      object: { metadata: { annotations: { "k8s.io/initial-events-end": "true" } } },
    });
    expect((await call("GET", `${widgets}?watch=true&sendInitialEvents=true`)).status).toBe(422);
    expect((await call("GET", `${widgets}?sendInitialEvents=true`)).status).toBe(422);
  });
});

describe("a store that failed a commit, behind the API (issue 10, item 5)", () => {
  it("answers 503 to reads and writes and ends open watches with a 503 ERROR event", async () => {
    const dir = await mkdtemp(join(tmpdir(), "setpoint-failed-"));
    const durable = new DurableBackend({ dataDir: dir, durability: "normal" });
    const failing = await serveKubernetesApi(
      createControlPlane({ backend: durable, kinds: [Widget] }),
    );
    try {
      const created = await call(
        "POST",
        widgets,
        JSON.stringify({ metadata: { name: "kept" }, spec: { replicas: 1 } }),
        {},
        failing.url,
      );
      expect(created.status).toBe(201);
      const rv = (created.json().metadata as { resourceVersion: string }).resourceVersion;
      // An open watch, then a full disk and a write that needs room.
      const events = watchUntilEnd(`${failing.url}${widgets}?watch=true&resourceVersion=${rv}`);
      durable.fillDisk();
      const doomed = await call(
        "POST",
        widgets,
        JSON.stringify({
          metadata: { name: "doomed", annotations: { a: "d".repeat(200_000) } },
          spec: { replicas: 1 },
        }),
        {},
        failing.url,
      );
      expect(doomed.status).toBe(503);
      for (const path of [`${widgets}/kept`, `${widgets}/doomed`, widgets]) {
        const read = await call("GET", path, undefined, {}, failing.url);
        expect(read.status, path).toBe(503);
        expect(read.json()).toMatchObject({ kind: "Status", code: 503 });
      }
      const lines = await withDeadline(events, 5_000, "the watch to end");
      expect(lines.map((l) => (l as { type: string }).type)).toEqual(["ERROR"]);
      expect(lines[0]).toMatchObject({ object: { kind: "Status", code: 503 } });
    } finally {
      await failing.close();
      await durable.close().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Every line of a watch until the server ends it. */
function watchUntilEnd(url: string): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => {
        text += chunk.toString();
      });
      res.on("end", () =>
        resolve(
          text
            .split("\n")
            .filter(Boolean)
            .map((l) => JSON.parse(l)),
        ),
      );
    });
    req.on("error", reject);
    req.end();
  });
}
