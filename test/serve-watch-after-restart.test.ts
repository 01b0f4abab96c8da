/**
 * A client resuming a watch (or a paginated list) from before a restart of `setpoint serve` on
 * the memory store, whose revisions begin again at 1: it is told to relist, as kube-apiserver
 * tells it, rather than streamed changes whose revisions mean something else.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createControlPlane, MemoryBackend, Namespace } from "../src/index.js";
import {
  type KubernetesApiServer,
  serveKubernetesApi,
} from "../src/kubernetes/apiserver/server.js";
import { withDeadline } from "../src/testing/eventually.js";
import { ExampleWidget as Widget } from "../src/testing/fixtures.js";

const widgets = "/apis/example.setpoint.dev/v1/namespaces/shop/widgets";

const servers: KubernetesApiServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

/** `setpoint serve` on a fresh memory store, with the namespace `shop`. */
async function serve(): Promise<KubernetesApiServer> {
  const plane = createControlPlane({ backend: new MemoryBackend(), kinds: [Widget] });
  await plane.resources(Namespace).create({ metadata: { name: "shop" }, spec: {} });
  const server = await serveKubernetesApi(plane, {});
  servers.push(server);
  return server;
}

/** The first line a watch sends, parsed. */
async function firstEvent(url: string): Promise<{ type: string; object: Record<string, unknown> }> {
  const stop = new AbortController();
  try {
    const response = await fetch(url, { signal: stop.signal });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes("\n")) {
      const { done, value } = await withDeadline(reader.read(), 5_000, "the watch's first line");
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    return JSON.parse(text.slice(0, text.indexOf("\n")));
  } finally {
    stop.abort();
  }
}

describe("setpoint serve on the memory store, restarted", () => {
  it("answers a watch from before the restart with a 504 Too large resource version ERROR event, on which client-go relists (the bug: the watch streamed)", async () => {
    const before = await serve();
    for (const name of ["a", "b", "c"]) {
      const created = await fetch(`${before.url}${widgets}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ metadata: { name }, spec: { replicas: 1 } }),
      });
      expect(created.status).toBe(201);
    }
    const list = (await (await fetch(`${before.url}${widgets}`)).json()) as {
      metadata: { resourceVersion: string };
    };
    const { resourceVersion } = list.metadata;
    await before.close();

    const after = await serve();
    const event = await firstEvent(
      `${after.url}${widgets}?watch=true&resourceVersion=${resourceVersion}`,
    );
    expect(event.type).toBe("ERROR");
    expect(event.object).toMatchObject({
      kind: "Status",
      status: "Failure",
      reason: "Timeout",
      code: 504,
      message: expect.stringContaining(`Too large resource version: ${resourceVersion}`),
      details: {
        causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }],
        retryAfterSeconds: 1,
      },
    });
    // The list the reflector tries next is refused the same way; without a resourceVersion it
    // is served, and a watch from its revision works.
    expect((await fetch(`${after.url}${widgets}?resourceVersion=${resourceVersion}`)).status).toBe(
      504,
    );
    const fresh = (await (await fetch(`${after.url}${widgets}`)).json()) as {
      metadata: { resourceVersion: string };
    };
    const stream = firstEvent(
      `${after.url}${widgets}?watch=true&resourceVersion=${fresh.metadata.resourceVersion}`,
    );
    await fetch(`${after.url}${widgets}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ metadata: { name: "later" }, spec: { replicas: 1 } }),
    });
    expect(await stream).toMatchObject({
      type: "ADDED",
      object: { metadata: { name: "later" } },
    });
  });
});
