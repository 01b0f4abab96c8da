/**
 * Events through `setpoint serve`: one store served as core `v1` Events and as
 * `events.k8s.io/v1` ones, converted as the API server converts them; what `kubectl get
 * events`, `kubectl events` (with `--for`) and `kubectl describe` print of the events a
 * controller records with `ctx.events.record()`; field selectors on both views, in lists and
 * watches.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { controller, createControlPlane, Event, Manager, silentLogger } from "../src/index.js";
import {
  type KubernetesApiServer,
  serveKubernetesApi,
} from "../src/kubernetes/apiserver/server.js";
import { eventually } from "../src/testing/eventually.js";
import { ExampleWidget as Widget } from "../src/testing/fixtures.js";
import { hasKubectl, kubectlMinors, type Served, serveForKubectl } from "./support/kubectl.js";

/** A controller that records a Normal event on every reconcile and a Warning for 0 replicas. */
const widgets = controller(Widget, {
  name: "widget-controller",
  async reconcile(widget, ctx) {
    await ctx.events.record({
      reason: "Scaled",
      message: `scaled to ${widget.spec.replicas}`,
    });
    if (widget.spec.replicas === 0)
      await ctx.events.record({ type: "Warning", reason: "Idle", message: "nothing to run" });
  },
});

const manifest = (name: string, replicas: number) =>
  `apiVersion: example.setpoint.dev/v1\nkind: Widget\nmetadata: {name: ${name}}\nspec: {replicas: ${replicas}}\n`;

async function withManager(plane: ReturnType<typeof createControlPlane>) {
  const stop = new AbortController();
  const manager = new Manager({ plane, logger: silentLogger() }).add(widgets as never);
  const running = manager.run({ signal: stop.signal });
  await manager.ready();
  return async () => {
    stop.abort();
    await running;
  };
}

describe.runIf(hasKubectl)("events with kubectl", () => {
  let env: Served;
  let plane: ReturnType<typeof createControlPlane>;
  let stopManager: () => Promise<void>;
  beforeAll(async () => {
    plane = createControlPlane({ kinds: [Widget] });
    env = await serveForKubectl(plane);
    stopManager = await withManager(plane);
    await env.kubectl("apply", "-f", await env.file("front.yaml", manifest("front", 3)));
    await env.kubectl("apply", "-f", await env.file("idle.yaml", manifest("idle", 0)));
    await eventually(async () =>
      expect((await plane.resources(Event).list()).items).toHaveLength(3),
    );
  });
  afterAll(async () => {
    await stopManager();
    await env.close();
  });

  it("kubectl get events prints LAST SEEN, TYPE, REASON, OBJECT and MESSAGE of what a controller recorded", async () => {
    const table = await env.kubectl("get", "events");
    const lines = table.trim().split("\n");
    expect(lines[0]).toMatch(/^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE$/);
    expect(lines.slice(1).sort()).toEqual([
      expect.stringMatching(/^\d+s\s+Normal\s+Scaled\s+widget\/front\s+scaled to 3$/),
      expect.stringMatching(/^\d+s\s+Normal\s+Scaled\s+widget\/idle\s+scaled to 0$/),
      expect.stringMatching(/^\d+s\s+Warning\s+Idle\s+widget\/idle\s+nothing to run$/),
    ]);
    const wide = await env.kubectl("get", "events", "-o", "wide");
    expect(wide).toMatch(/SOURCE/);
    expect(wide).toMatch(/widget-controller, widget-controller-[0-9a-f]{8}/);
  });

  it("kubectl events lists them, and --for kind/name only the object's", async () => {
    const all = await env.kubectl("events");
    expect(all).toMatch(/^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE\n/);
    expect(all).toMatch(/Widget\/front\s+scaled to 3/);
    const forIdle = await env.kubectl("events", "--for", "wd/idle");
    expect(forIdle).toMatch(/Warning\s+Idle\s+Widget\/idle\s+nothing to run/);
    expect(forIdle).toMatch(/Normal\s+Scaled\s+Widget\/idle\s+scaled to 0/);
    expect(forIdle).not.toContain("front");
    expect(await env.kubectl("events", "--for", "wd/nothing")).toBe("");
  });

  it("kubectl describe shows the object's events, from its controller", async () => {
    const described = await env.kubectl("describe", "wd", "idle");
    expect(described).toMatch(/Events:\n\s+Type\s+Reason\s+Age\s+From\s+Message\n/);
    expect(described).toMatch(/Warning\s+Idle\s+\d+s\s+widget-controller\s+nothing to run/);
    expect(described).not.toContain("scaled to 3");
  });

  it("selects events by reason and type, and the events.k8s.io view by regarding.name", async () => {
    expect(
      await env.kubectl("get", "events", "--field-selector", "type=Warning", "-o", "name"),
    ).toMatch(/^event\/idle\.[a-z0-9]+\n$/);
    expect(
      await env.kubectl(
        "get",
        "events",
        "--field-selector",
        "reason=Scaled,involvedObject.name!=idle",
        "-o",
        "jsonpath={.items[*].message}",
      ),
    ).toBe("scaled to 3");
    expect(
      await env.kubectl(
        "get",
        "events.events.k8s.io",
        "--field-selector",
        "regarding.name=front",
        "-o",
        "jsonpath={.items[*].note}",
      ),
    ).toBe("scaled to 3");
    await expect(
      env.kubectl("get", "events", "--field-selector", "regarding.name=front"),
    ).rejects.toMatchObject({
      stderr: expect.stringContaining("field label not supported: regarding.name"),
    });
  });

  it("shows an event written as core v1 in the events.k8s.io view, converted", async () => {
    const uid = await env.kubectl("get", "wd", "front", "-o", "jsonpath={.metadata.uid}");
    await env.kubectl(
      "apply",
      "-f",
      await env.file(
        "ev.yaml",
        [
          "apiVersion: v1",
          "kind: Event",
          "metadata: {name: front.manual}",
          `involvedObject: {apiVersion: example.setpoint.dev/v1, kind: Widget, name: front, namespace: default, uid: ${uid}}`,
          "reason: Restarted",
          "message: restarted by hand",
          "type: Normal",
          "source: {component: operator, host: node-1}",
          'firstTimestamp: "2026-01-01T00:00:00Z"',
          'lastTimestamp: "2026-01-01T00:05:00Z"',
          "count: 4",
          "",
        ].join("\n"),
      ),
    );
    const converted = JSON.parse(
      await env.kubectl("get", "events.v1.events.k8s.io", "front.manual", "-o", "json"),
    );
    expect(converted).toMatchObject({
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      regarding: { kind: "Widget", name: "front", uid },
      note: "restarted by hand",
      deprecatedSource: { component: "operator", host: "node-1" },
      deprecatedFirstTimestamp: "2026-01-01T00:00:00Z",
      deprecatedLastTimestamp: "2026-01-01T00:05:00Z",
      deprecatedCount: 4,
    });
    expect(await env.kubectl("events", "--for", "wd/front")).toMatch(
      /\(x4 over \S+\)\s+Normal\s+Restarted\s+Widget\/front\s+restarted by hand/,
    );
  });
});

describe.runIf(hasKubectl)("events with kubectl minors 1.29 to 1.33", () => {
  for (const minor of kubectlMinors) {
    it(`kubectl 1.${minor} prints a controller's events in get events, events --for and describe`, async () => {
      const plane = createControlPlane({ kinds: [Widget] });
      const env = await serveForKubectl(plane, minor);
      const stopManager = await withManager(plane);
      try {
        await env.kubectl("apply", "-f", await env.file("w.yaml", manifest("w", 0)));
        await eventually(async () =>
          expect(await env.kubectl("get", "events")).toMatch(/Warning\s+Idle\s+widget\/w/),
        );
        expect(await env.kubectl("events", "--for", "wd/w")).toMatch(
          /Warning\s+Idle\s+Widget\/w\s+nothing to run/,
        );
        expect(await env.kubectl("describe", "wd", "w")).toMatch(
          /Warning\s+Idle\s+\d+s\s+widget-controller\s+nothing to run/,
        );
      } finally {
        await stopManager();
        await env.close();
      }
    });
  }
});

describe("events over HTTP", () => {
  let server: KubernetesApiServer;
  let plane: ReturnType<typeof createControlPlane>;
  beforeAll(async () => {
    plane = createControlPlane({ kinds: [Widget] });
    server = await serveKubernetesApi(plane);
  });
  afterAll(() => server.close());
  const core = "/api/v1/namespaces/default/events";
  const v1 = "/apis/events.k8s.io/v1/namespaces/default/events";
  const call = async (method: string, path: string, body?: unknown, type = "application/json") => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: { "content-type": type },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  };

  it("serves an events.k8s.io event as core v1, with Go's empty structs and null times", async () => {
    const created = await call("POST", v1, {
      metadata: { name: "e1" },
      eventTime: "2026-01-01T00:00:00.000000Z",
      reportingController: "example.com/ctl",
      reportingInstance: "ctl-1",
      action: "Scale",
      reason: "Scaled",
      regarding: { kind: "Widget", name: "a", namespace: "default" },
      note: "scaled",
      type: "Normal",
    });
    expect(created.status).toBe(201);
    const shown = (await call("GET", `${core}/e1`)).json;
    expect(shown).toEqual({
      kind: "Event",
      apiVersion: "v1",
      metadata: expect.objectContaining({ name: "e1", namespace: "default" }),
      involvedObject: { kind: "Widget", name: "a", namespace: "default" },
      reason: "Scaled",
      message: "scaled",
      source: {},
      firstTimestamp: null,
      lastTimestamp: null,
      type: "Normal",
      eventTime: "2026-01-01T00:00:00.000000Z",
      action: "Scale",
      reportingComponent: "example.com/ctl",
      reportingInstance: "ctl-1",
    });
  });

  it("serves an event's times as MicroTime (six fractional digits), however they were stored: client-go parses no other", async () => {
    await plane.resources(Event).create({
      metadata: { name: "millis" },
      eventTime: "2026-01-01T00:00:00.123Z",
      series: { count: 2, lastObservedTime: "2026-01-01T00:01:00Z" },
      reason: "Old",
    } as never);
    expect((await call("GET", `${core}/millis`)).json).toMatchObject({
      eventTime: "2026-01-01T00:00:00.123000Z",
      series: { count: 2, lastObservedTime: "2026-01-01T00:01:00.000000Z" },
    });
    expect((await call("GET", `${v1}/millis`)).json).toMatchObject({
      eventTime: "2026-01-01T00:00:00.123000Z",
    });
  });

  it("checks an events.k8s.io create as Kubernetes does: eventTime, type and the new-style fields", async () => {
    const reply = await call("POST", v1, {
      metadata: { name: "bad" },
      reason: "x",
      regarding: { namespace: "default" },
      type: "Bogus",
      deprecatedCount: 2,
    });
    expect(reply.status).toBe(422);
    const fields = (reply.json.details as { causes: { field: string }[] }).causes.map(
      (c) => c.field,
    );
    expect(fields).toEqual(expect.arrayContaining(["eventTime", "type", "deprecatedCount"]));
    expect((await call("GET", `${v1}/bad`)).status).toBe(404);
  });

  it("patches a core v1 event as core v1 (a recorder's count bump), in the one store", async () => {
    await call("POST", core, {
      metadata: { name: "e2" },
      involvedObject: { kind: "Widget", name: "a", namespace: "default" },
      reason: "Pulled",
      message: "pulled",
      type: "Normal",
      count: 1,
      firstTimestamp: "2026-01-01T00:00:00Z",
      lastTimestamp: "2026-01-01T00:00:00Z",
    });
    const patched = await call(
      "PATCH",
      `${core}/e2`,
      { count: 2, lastTimestamp: "2026-01-01T00:01:00Z" },
      "application/merge-patch+json",
    );
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ count: 2, lastTimestamp: "2026-01-01T00:01:00Z" });
    expect((await call("GET", `${v1}/e2`)).json).toMatchObject({
      deprecatedCount: 2,
      deprecatedLastTimestamp: "2026-01-01T00:01:00Z",
      note: "pulled",
    });
  });

  it("refuses a field selector each view does not support, naming the field", async () => {
    expect((await call("GET", `${core}?fieldSelector=regarding.name%3Da`)).status).toBe(400);
    expect((await call("GET", `${v1}?fieldSelector=involvedObject.name%3Da`)).status).toBe(400);
    expect((await call("GET", `${core}?fieldSelector=involvedObject.name%3Da`)).status).toBe(200);
    expect((await call("GET", `${v1}?fieldSelector=regarding.name%3Da`)).status).toBe(200);
  });

  it("watches with a field selector on reason: an event that stops matching arrives as DELETED", async () => {
    await call("POST", core, {
      metadata: { name: "w1" },
      involvedObject: { kind: "Widget", name: "b", namespace: "default" },
      reason: "Pending",
      message: "waiting",
    });
    const response = await fetch(`${server.url}${core}?watch=true&fieldSelector=reason%3DPending`);
    const reader = response.body!.getReader();
    const lines: string[] = [];
    let buffered = "";
    const read = async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffered += new TextDecoder().decode(value);
        const parts = buffered.split("\n");
        buffered = parts.pop()!;
        lines.push(...parts.filter((l) => l !== ""));
      }
    };
    const reading = read().catch(() => {});
    try {
      await eventually(() => expect(lines).toHaveLength(1));
      expect(JSON.parse(lines[0]!)).toMatchObject({
        type: "ADDED",
        object: { metadata: { name: "w1" }, reason: "Pending" },
      });
      await call(
        "PATCH",
        `${core}/w1`,
        { reason: "Started", message: "started" },
        "application/merge-patch+json",
      );
      await eventually(() => expect(lines).toHaveLength(2));
      expect(JSON.parse(lines[1]!)).toMatchObject({
        type: "DELETED",
        object: { metadata: { name: "w1" }, reason: "Started" },
      });
    } finally {
      await reader.cancel();
      await reading;
    }
  });
});
