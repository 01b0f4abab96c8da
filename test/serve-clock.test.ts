/**
 * `setpoint serve` on a fake clock: a watch's `timeoutSeconds`, a quiet watch's bookmarks and the
 * ages `kubectl get` prints all follow the clock the server and its store are given, so that
 * tests step time instead of waiting for it.
 */
import { get, type IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createControlPlane, MemoryBackend } from "../src/index.js";
import {
  type KubernetesApiServer,
  serveKubernetesApi,
} from "../src/kubernetes/apiserver/server.js";
import { eventually } from "../src/testing/eventually.js";
import { FakeClock } from "../src/testing/fake-clock.js";
import { ExampleWidget as Widget } from "../src/testing/fixtures.js";

const widgets = "/apis/example.setpoint.dev/v1/namespaces/default/widgets";

let clock: FakeClock;
let server: KubernetesApiServer;
let plane: ReturnType<typeof createControlPlane>;
beforeAll(async () => {
  clock = new FakeClock();
  plane = createControlPlane({ backend: new MemoryBackend({ clock }), kinds: [Widget] });
  server = await serveKubernetesApi(plane, { clock, bookmarkIntervalMs: 60_000 });
});
afterAll(() => server.close());

/** An open watch: the lines it has sent so far, and whether the server ended it. */
interface OpenWatch {
  readonly lines: () => Record<string, unknown>[];
  readonly ended: () => boolean;
  close(): void;
}

async function openWatch(path: string): Promise<OpenWatch> {
  let text = "";
  let ended = false;
  const response = await new Promise<IncomingMessage>((resolve, reject) =>
    get(`${server.url}${path}`, resolve).on("error", reject),
  );
  expect(response.statusCode).toBe(200);
  response.setEncoding("utf8");
  response.on("data", (chunk: string) => {
    text += chunk;
  });
  response.on("end", () => {
    ended = true;
  });
  return {
    lines: () =>
      text
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line)),
    ended: () => ended,
    close: () => response.destroy(),
  };
}

async function currentRevision(): Promise<string> {
  return (await plane.backend.list(Widget, { namespace: "default" })).resourceVersion;
}

describe("serve on a fake clock", () => {
  it("ends a watch once its timeoutSeconds pass on the server's clock, not before", async () => {
    const watch = await openWatch(
      `${widgets}?watch=true&timeoutSeconds=3600&resourceVersion=${await currentRevision()}`,
    );
    try {
      // Still open an hour less a millisecond later: it delivers a change made then.
      await clock.advance(3_600_000 - 1);
      await plane
        .resources(Widget, { namespace: "default" })
        .create({ metadata: { name: "late" }, spec: { replicas: 1 } });
      await eventually(() =>
        expect(watch.lines()).toMatchObject([
          { type: "ADDED", object: { metadata: { name: "late" } } },
        ]),
      );
      expect(watch.ended()).toBe(false);
      await clock.advance(1);
      await eventually(() => expect(watch.ended()).toBe(true));
    } finally {
      watch.close();
    }
  });

  it("sends a quiet watch that allows bookmarks one per bookmark interval of the clock", async () => {
    const from = await currentRevision();
    const watch = await openWatch(
      `${widgets}?watch=true&allowWatchBookmarks=true&resourceVersion=${from}`,
    );
    try {
      await clock.advance(60_000);
      await eventually(() =>
        expect(watch.lines()).toEqual([
          {
            type: "BOOKMARK",
            object: {
              kind: "Widget",
              apiVersion: "example.setpoint.dev/v1",
              metadata: { resourceVersion: from },
            },
          },
        ]),
      );
    } finally {
      watch.close();
    }
  });

  it("shows ages in Tables as of the server's clock", async () => {
    const created = await plane
      .resources(Widget, { namespace: "default" })
      .create({ metadata: { name: "aged" }, spec: { replicas: 1 } });
    await clock.advance(150_000);
    const table = await new Promise<Record<string, unknown>>((resolve, reject) =>
      get(
        `${server.url}${widgets}/${created.metadata.name}`,
        { headers: { accept: "application/json;as=Table;v=v1;g=meta.k8s.io" } },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            text += chunk;
          });
          res.on("end", () => resolve(JSON.parse(text)));
        },
      ).on("error", reject),
    );
    // Name, then Age: the store's creationTimestamp read against the server's clock.
    expect(table).toMatchObject({ kind: "Table", rows: [{ cells: ["aged", "2m30s"] }] });
  });
});
