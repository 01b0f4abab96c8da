/**
 * `setpoint serve` at the HTTP level: status codes for bad input, resource version rules, and a
 * fuzz of the router that no input may crash.
 */
import { get, request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createControlPlane, defineKind, MemoryBackend } from "../src/index.js";
import {
  type KubernetesApiServer,
  serveKubernetesApi,
} from "../src/kubernetes/apiserver/server.js";
import { eventually, withDeadline } from "../src/testing/eventually.js";
import { ExampleWidget as Widget } from "../src/testing/fixtures.js";

let server: KubernetesApiServer;
let backend: MemoryBackend;
beforeAll(async () => {
  backend = new MemoryBackend();
  const plane = createControlPlane({ backend, kinds: [Widget] });
  server = await serveKubernetesApi(plane, { maxBodyBytes: 64 * 1024 });
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
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${server.url}${path}`,
      { method, headers: { "content-type": "application/json", ...headers } },
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

const widgets = "/apis/example.setpoint.dev/v1/namespaces/default/widgets";

describe("serve answers bad input with the right Status", () => {
  it("404 for unknown groups, versions, kinds and subresources", async () => {
    for (const path of [
      "/apis/nope.example.com/v1/things",
      "/apis/example.setpoint.dev/v9/widgets",
      "/apis/example.setpoint.dev/v1/gizmos",
      `${widgets}/a/scale`,
      "/nothing/here",
    ]) {
      const reply = await call("GET", path);
      expect(reply.status, path).toBe(404);
      expect(reply.json()).toMatchObject({
        kind: "Status",
        status: "Failure",
        reason: "NotFound",
        code: 404,
      });
    }
  });

  it("400 for malformed JSON and YAML, 415 for unknown content types, 413 for bodies over the limit", async () => {
    expect((await call("POST", widgets, "{not json")).json()).toMatchObject({
      code: 400,
      reason: "BadRequest",
    });
    expect(
      (await call("POST", widgets, "a: [b", { "content-type": "application/yaml" })).json(),
    ).toMatchObject({ code: 400 });
    expect(
      (await call("POST", widgets, "<xml/>", { "content-type": "application/xml" })).json(),
    ).toMatchObject({ code: 415, reason: "UnsupportedMediaType" });
    expect(
      (
        await call("PATCH", `${widgets}/a`, "{}", {
          "content-type": "application/strategic-merge-patch+json",
        })
      ).json(),
    ).toMatchObject({ code: 415 });
    const big = JSON.stringify({
      metadata: { name: "big" },
      spec: { replicas: 1 },
      pad: "x".repeat(70 * 1024),
    });
    expect((await call("POST", widgets, big)).json()).toMatchObject({
      code: 413,
      reason: "RequestEntityTooLarge",
    });
  });

  it("422 naming the field for a body of another kind or version than the URL names, and nothing is stored", async () => {
    const other = await call(
      "POST",
      widgets,
      JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cm" }, data: {} }),
    );
    expect(other.json()).toMatchObject({ code: 422, reason: "Invalid" });
    expect(JSON.stringify(other.json().details)).toContain('"field":"kind"');
    const version = await call(
      "POST",
      widgets,
      JSON.stringify({
        apiVersion: "example.setpoint.dev/v2",
        kind: "Widget",
        metadata: { name: "v2" },
        spec: { replicas: 1 },
      }),
    );
    expect(version.json()).toMatchObject({ code: 422, reason: "Invalid" });
    expect(JSON.stringify(version.json().details)).toContain('"field":"apiVersion"');
    expect((await call("GET", `${widgets}/cm`)).status).toBe(404);
    expect((await call("GET", `${widgets}/v2`)).status).toBe(404);
  });

  it("422 with field causes for invalid objects, 409 for stale writes and taken names", async () => {
    const invalid = await call(
      "POST",
      widgets,
      JSON.stringify({ metadata: { name: "bad" }, spec: { replicas: -1 } }),
    );
    expect(invalid.json()).toMatchObject({
      code: 422,
      reason: "Invalid",
      details: { causes: [{ field: "spec.replicas" }] },
    });
    const created = await call(
      "POST",
      widgets,
      JSON.stringify({ metadata: { name: "w" }, spec: { replicas: 1 } }),
    );
    expect(created.status).toBe(201);
    expect(
      (
        await call(
          "POST",
          widgets,
          JSON.stringify({ metadata: { name: "w" }, spec: { replicas: 1 } }),
        )
      ).json(),
    ).toMatchObject({ code: 409, reason: "AlreadyExists" });
    const stale = {
      ...created.json(),
      spec: { replicas: 2 },
      metadata: { ...(created.json().metadata as object), resourceVersion: "1" },
    };
    await call("PUT", `${widgets}/w`, JSON.stringify({ ...created.json(), spec: { replicas: 5 } }));
    expect((await call("PUT", `${widgets}/w`, JSON.stringify(stale))).json()).toMatchObject({
      code: 409,
      reason: "Conflict",
    });
  });

  it("creates from generateName, and lists every namespace on the cluster path", async () => {
    const created = await call(
      "POST",
      widgets,
      JSON.stringify({ metadata: { generateName: "gen-" }, spec: { replicas: 1 } }),
    );
    expect(created.json()).toMatchObject({
      metadata: { name: expect.stringMatching(/^gen-[a-z0-9]{5}$/) },
    });
    await call("POST", "/api/v1/namespaces", JSON.stringify({ metadata: { name: "other" } }));
    await call(
      "POST",
      "/apis/example.setpoint.dev/v1/namespaces/other/widgets",
      JSON.stringify({ metadata: { name: "elsewhere" }, spec: { replicas: 1 } }),
    );
    const all = (await call("GET", "/apis/example.setpoint.dev/v1/widgets")).json() as {
      kind: string;
      items: { metadata: { namespace: string } }[];
    };
    expect(all.kind).toBe("WidgetList");
    expect(new Set(all.items.map((i) => i.metadata.namespace))).toEqual(
      new Set(["default", "other"]),
    );
  });

  it("keeps resourceVersion rules on lists: Exact reads that revision, a future one is too large", async () => {
    await call(
      "POST",
      widgets,
      JSON.stringify({ metadata: { name: "then" }, spec: { replicas: 1 } }),
    );
    const list = (await call("GET", widgets)).json() as { metadata: { resourceVersion: string } };
    const rv = list.metadata.resourceVersion;
    await call("PATCH", `${widgets}/then`, JSON.stringify({ spec: { replicas: 5 } }), {
      "content-type": "application/merge-patch+json",
    });
    const exact = await call("GET", `${widgets}?resourceVersion=${rv}&resourceVersionMatch=Exact`);
    expect(exact.status).toBe(200);
    const past = exact.json() as {
      metadata: { resourceVersion: string };
      items: { metadata: { name: string }; spec: { replicas: number } }[];
    };
    expect(past.metadata.resourceVersion).toBe(rv);
    expect(past.items.find((i) => i.metadata.name === "then")?.spec.replicas).toBe(1);
    expect(
      (await call("GET", `${widgets}?resourceVersion=${rv}&continue=abc`)).json(),
    ).toMatchObject({ code: 400 });
    expect(
      (await call("GET", `${widgets}?resourceVersion=${Number(rv) + 1000}`)).json(),
    ).toMatchObject({ code: 504, reason: "Timeout" });
    expect((await call("GET", `${widgets}?resourceVersionMatch=Exact`)).json()).toMatchObject({
      code: 400,
    });
  });

  it("pages with limit and continue", async () => {
    for (let i = 0; i < 5; i++)
      await call(
        "POST",
        widgets,
        JSON.stringify({ metadata: { name: `page-${i}` }, spec: { replicas: i } }),
      );
    const first = (await call("GET", `${widgets}?limit=2&labelSelector=`)).json() as {
      items: unknown[];
      metadata: { continue?: string };
    };
    expect(first.items).toHaveLength(2);
    const second = (
      await call(
        "GET",
        `${widgets}?limit=2&continue=${encodeURIComponent(first.metadata.continue!)}`,
      )
    ).json() as { items: unknown[] };
    expect(second.items).toHaveLength(2);
  });

  it("ends a watch resumed from a compacted revision with an ERROR event carrying a 410 Status", async () => {
    const old = (await call("GET", widgets)).json() as { metadata: { resourceVersion: string } };
    await call(
      "POST",
      widgets,
      JSON.stringify({ metadata: { name: "later" }, spec: { replicas: 1 } }),
    );
    backend.compact();
    const reply = await call(
      "GET",
      `${widgets}?watch=true&resourceVersion=${old.metadata.resourceVersion}`,
    );
    const event = JSON.parse(reply.body.trim().split("\n")[0]!);
    expect(event).toMatchObject({
      type: "ERROR",
      object: { kind: "Status", code: 410, reason: "Expired" },
    });
  });

  it("closes a watch after timeoutSeconds, cleanly", async () => {
    // From the current revision: nothing to send, so the stream is empty until it times out.
    const { metadata } = (await call("GET", widgets)).json() as {
      metadata: { resourceVersion: string };
    };
    const reply = await call(
      "GET",
      `${widgets}?watch=true&timeoutSeconds=1&resourceVersion=${metadata.resourceVersion}`,
    );
    expect(reply.status).toBe(200);
    expect(reply.body).toBe("");
  });
});

describe("serve under a slow watcher", () => {
  it("does not read ahead for a watcher that stops reading: it falls behind the history and gets a 410", async () => {
    const Blob = defineKind({
      group: "example.setpoint.dev",
      version: "v1",
      kind: "Blob",
      scope: "Cluster",
      spec: z.object({ data: z.string() }),
    });
    const plane = createControlPlane({ kinds: [Blob], historyLimit: 1_000 });
    const slow = await serveKubernetesApi(plane);
    try {
      const blobs = plane.resources(Blob);
      const data = "x".repeat(10_000);
      const created = await blobs.create({ metadata: { name: "b" }, spec: { data } });
      let text = "";
      let paused!: () => void;
      const ended = new Promise<void>((resolve, reject) => {
        get(
          `${slow.url}/apis/example.setpoint.dev/v1/blobs?watch=true&timeoutSeconds=20&resourceVersion=${created.metadata.resourceVersion}`,
          (res) => {
            res.setEncoding("utf8");
            res.pause();
            paused = () => {
              res.on("data", (chunk: string) => {
                text += chunk;
              });
              res.on("end", resolve);
              res.resume();
            };
          },
        ).on("error", reject);
      });
      await eventually(() => expect(paused).toBeDefined());
      // 30 MB of changes, far more than the kernel's socket buffers hold.
      for (let i = 0; i < 3_000; i++)
        await blobs.patch("b", { type: "merge", patch: { spec: { data: `${i}${data}` } } });
      paused();
      await withDeadline(ended, 15_000, "the end of the watch");
      const events = text
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { type: string; object: { code?: number } });
      expect(events.length).toBeLessThan(3_000);
      expect(events.at(-1)).toMatchObject({ type: "ERROR", object: { code: 410 } });
    } finally {
      await slow.close();
    }
  });
});

describe("serve under many watchers", () => {
  it("frees what a client that disconnects mid-watch held", async () => {
    const before = process.memoryUsage().heapUsed;
    // 3,000 connections show a leak of anything per connection; the time they take is the
    // machine's, so the test's budget is generous and its checks wait on progress.
    for (let i = 0; i < 3_000; i++) {
      await new Promise<void>((resolve) => {
        const req = request(`${server.url}${widgets}?watch=true`, (res) => {
          res.once("data", () => {});
          req.destroy();
          resolve();
        });
        req.on("error", () => resolve());
        req.end();
      });
    }
    // The store keeps no watch of a gone client: none left waiting, once the server has seen
    // every connection close.
    await eventually(() =>
      expect(
        (backend as unknown as { tables: Map<string, { watches: Set<unknown> }> }).tables.get(
          "example.setpoint.dev/Widget",
        )!.watches.size,
      ).toBeLessThan(5),
    );
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
  }, 120_000);
});
