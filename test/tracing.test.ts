/**
 * Tracing with an OpenTelemetry SDK registered, as an application would: one span per
 * reconcile, with its controller, kind, key, reason and result, and the store calls made through
 * `ctx.client` as its children.
 */
import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, expect, it } from "vitest";
import { composite, controller, createControlPlane, Manager, silentLogger } from "../src/index.js";
import { eventually } from "../src/testing/eventually.js";
import { Gear, Widget } from "../src/testing/fixtures.js";

const exporter = new InMemorySpanExporter();
const contextManager = new AsyncLocalStorageContextManager();
beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  );
});
afterAll(() => {
  trace.disable();
  context.disable();
});

it("records one span per reconcile, with the store calls of ctx.client as its children", async () => {
  const plane = createControlPlane();
  const manager = new Manager({ plane, logger: silentLogger() });
  let failOnce = true;
  manager.add(
    controller(Widget, {
      name: "widgets",
      reconcile: async (widget, ctx) => {
        const key = { namespace: "shop", name: widget.metadata.name };
        await ctx.client.get(key);
        if (widget.metadata.name === "b" && failOnce) {
          failOnce = false;
          throw new Error("not yet");
        }
        await ctx.client.patch(
          key,
          { type: "merge", patch: { status: { seen: widget.spec.replicas } } },
          { subresource: "status" },
        );
      },
    }),
  );
  const stop = new AbortController();
  const running = manager.run({ signal: stop.signal });
  const widgets = plane.resources(Widget, { namespace: "shop" });
  await manager.ready();
  await widgets.create({ metadata: { name: "a" }, spec: { replicas: 1 } });
  await widgets.create({ metadata: { name: "b" }, spec: { replicas: 2 } });
  await eventually(async () => expect((await widgets.get("b")).status?.seen).toBe(2));
  stop.abort();
  await running;

  const spans = exporter.getFinishedSpans();
  const reconciles = spans.filter((s) => s.name === "reconcile widgets");
  expect(
    reconciles.map((s) => [s.attributes["setpoint.key"], s.attributes["setpoint.result"]]),
  ).toEqual([
    ["shop/a", "success"],
    ["shop/b", "error"],
    ["shop/b", "success"],
  ]);
  expect(reconciles[0]!.attributes).toMatchObject({
    "setpoint.controller": "widgets",
    "setpoint.kind": "test.setpoint.dev/Widget",
    "setpoint.reason": "added",
  });
  expect(reconciles[1]!.status).toMatchObject({ code: 2, message: "not yet" });
  expect(reconciles[2]!.attributes["setpoint.reason"]).toBe("retry");
  // The store calls made through ctx.client are children of their reconcile's span.
  for (const reconcile of reconciles) {
    const children = spans.filter(
      (s) => s.parentSpanContext?.spanId === reconcile.spanContext().spanId,
    );
    const expected =
      reconcile.attributes["setpoint.result"] === "error"
        ? ["setpoint get"]
        : ["setpoint get", "setpoint patch"];
    expect(children.map((s) => s.name)).toEqual(expected);
    expect(children[0]!.attributes["setpoint.key"]).toBe(reconcile.attributes["setpoint.key"]);
  }
});

it("records a composite's child writes and parent status as children of its reconcile's span (they bypassed it)", async () => {
  exporter.reset();
  const plane = createControlPlane();
  const manager = new Manager({ plane, logger: silentLogger() });
  manager.add(
    composite(Widget, {
      name: "widgets",
      children: [{ kind: Gear }],
      sync: ({ parent }) => ({
        children: [
          {
            apiVersion: Gear.apiVersion,
            kind: "Gear",
            metadata: { name: parent.metadata.name },
            spec: { teeth: parent.spec.replicas },
          },
        ],
      }),
    }),
  );
  const stop = new AbortController();
  const running = manager.run({ signal: stop.signal });
  await manager.ready();
  await plane
    .resources(Widget, { namespace: "shop" })
    .create({ metadata: { name: "a" }, spec: { replicas: 1 } });
  await eventually(async () =>
    expect((await plane.resources(Gear, { namespace: "shop" }).get("a")).spec.teeth).toBe(1),
  );
  await eventually(() =>
    expect(
      exporter
        .getFinishedSpans()
        .some(
          (s) => s.name === "reconcile widgets" && s.attributes["setpoint.result"] === "success",
        ),
    ).toBe(true),
  );
  stop.abort();
  await running;

  const spans = exporter.getFinishedSpans();
  const first = spans.find((s) => s.name === "reconcile widgets")!;
  const children = spans.filter((s) => s.parentSpanContext?.spanId === first.spanContext().spanId);
  expect(children.map((s) => [s.name, s.attributes["setpoint.kind"]])).toEqual([
    ["setpoint get", "test.setpoint.dev/Gear"],
    ["setpoint create", "test.setpoint.dev/Gear"],
    ["setpoint updateStatus", "test.setpoint.dev/Widget"],
  ]);
});
