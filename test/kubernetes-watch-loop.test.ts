/**
 * The Kubernetes backend's own watch loop against a scripted server: it honours Retry-After on
 * 429 without relisting, restarts a silent stream from its last revision, and ends with Expired on
 * a 410 — on real time and, step by step, on a fake clock; its requests share a keep-alive
 * connection and decode bodies as bytes.
 */

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { z } from "zod";
import { ApiError, defineKind } from "../src/index.js";
import { kubeconfigFor } from "../src/kubernetes/apiserver/server.js";
import { connectKubernetes } from "../src/kubernetes/kubernetes-backend.js";
import { eventually, withDeadline } from "../src/testing/eventually.js";
import { FakeClock } from "../src/testing/fake-clock.js";

const Thing = defineKind({
  group: "test.setpoint.dev",
  version: "v1",
  kind: "Thing",
  scope: "Cluster",
  spec: z.object({}),
});
const thing = (name: string, rv: string) => ({
  apiVersion: Thing.apiVersion,
  kind: "Thing",
  metadata: {
    name,
    uid: name,
    resourceVersion: rv,
    generation: 1,
    creationTimestamp: "2026-01-01T00:00:00Z",
  },
  spec: {},
});

it("backs off on 429 honouring Retry-After, resumes a silent stream from its last revision, and ends with Expired on 410", async () => {
  const requests: string[] = [];
  const times: number[] = [];
  let watches = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    requests.push(
      `${url.searchParams.get("watch") ? "watch" : "list"}@${url.searchParams.get("resourceVersion") ?? ""}`,
    );
    times.push(performance.now());
    if (url.searchParams.get("watch") !== "true") {
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ kind: "ThingList", metadata: { resourceVersion: "10" }, items: [] }));
      return;
    }
    watches++;
    if (watches === 1) {
      res.writeHead(429, { "content-type": "application/json", "retry-after": "1" }).end(
        JSON.stringify({
          kind: "Status",
          code: 429,
          reason: "TooManyRequests",
          message: "slow down",
        }),
      );
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.flushHeaders();
    if (watches === 2) {
      res.write(`${JSON.stringify({ type: "ADDED", object: thing("a", "11") })}\n`);
      return; // then silence: the idle watchdog must restart it
    }
    if (watches === 3) {
      res.write(`${JSON.stringify({ type: "ADDED", object: thing("b", "12") })}\n`);
      res.write(
        `${JSON.stringify({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired", message: "too old resource version" } })}\n`,
      );
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const dir = await mkdtemp(join(tmpdir(), "setpoint-loop-"));
  try {
    await writeFile(
      join(dir, "kubeconfig"),
      kubeconfigFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    );
    const backend = await connectKubernetes({
      kubeconfig: join(dir, "kubeconfig"),
      idleTimeoutMs: 300,
    });
    const watch = backend.watch(Thing, { resourceVersion: "10" });
    const first = await withDeadline(watch.next(), 10_000, "the first event");
    expect(first.value).toMatchObject({ type: "ADDED", object: { metadata: { name: "a" } } });
    const second = await withDeadline(watch.next(), 10_000, "the second event");
    expect(second.value).toMatchObject({ type: "ADDED", object: { metadata: { name: "b" } } });
    const third = await withDeadline(
      watch.next().catch((err: unknown) => err),
      10_000,
      "the end of the watch",
    );
    expect(ApiError.isGone(third)).toBe(true);
    // No relist: only watches, each resuming from the last revision it saw.
    expect(requests).toEqual(["watch@10", "watch@10", "watch@11"]);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(900);
    await backend.close();
  } finally {
    server.closeAllConnections();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

it("waits for its clock: a 429's Retry-After and a silent stream's idle checks run on the clock it is given", async () => {
  const requests: string[] = [];
  let watches = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    requests.push(`watch@${url.searchParams.get("resourceVersion") ?? ""}`);
    watches++;
    if (watches === 1) {
      res
        .writeHead(429, { "content-type": "application/json", "retry-after": "1" })
        .end(JSON.stringify({ kind: "Status", code: 429, reason: "TooManyRequests" }));
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.flushHeaders();
    if (watches === 2) {
      res.write(`${JSON.stringify({ type: "ADDED", object: thing("a", "11") })}\n`);
      return; // then silence
    }
    res.end(
      `${JSON.stringify({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired", message: "too old resource version" } })}\n`,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const dir = await mkdtemp(join(tmpdir(), "setpoint-loop-"));
  try {
    await writeFile(
      join(dir, "kubeconfig"),
      kubeconfigFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    );
    const clock = new FakeClock();
    const backend = await connectKubernetes({
      kubeconfig: join(dir, "kubeconfig"),
      idleTimeoutMs: 1_000,
      clock,
    });
    const watch = backend.watch(Thing, { resourceVersion: "10" });
    const first = watch.next();
    // The 429 asked for a second: the watch waits for it on the clock, and only then asks again.
    await eventually(() => expect(clock.nextTimerAt).toBe(1_000));
    await clock.advance(999);
    expect(requests).toEqual(["watch@10"]);
    await clock.advance(1);
    expect((await withDeadline(first, 10_000, "the first event")).value).toMatchObject({
      type: "ADDED",
      object: { metadata: { name: "a" } },
    });
    // The stream is checked every half idle timeout; it said something before the first check,
    // and is dropped at the third, two checks of silence later.
    await eventually(() => expect(clock.nextTimerAt).toBe(1_500));
    await clock.advance(1_000);
    expect(requests).toEqual(["watch@10", "watch@10"]);
    const end = watch.next().catch((err: unknown) => err);
    await clock.advance(500);
    expect(ApiError.isGone(await withDeadline(end, 10_000, "the end of the watch"))).toBe(true);
    // It resumed from the last revision it saw, without a list.
    expect(requests).toEqual(["watch@10", "watch@10", "watch@11"]);
    await backend.close();
  } finally {
    server.closeAllConnections();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

it("reuses one keep-alive connection across requests and decodes a character split between chunks", async () => {
  let connections = 0;
  const body = Buffer.from(
    JSON.stringify({
      kind: "ThingList",
      metadata: { resourceVersion: "10" },
      items: [{ ...thing("café", "10") }],
    }),
  );
  const split = body.indexOf(Buffer.from("é")) + 1; // between the two bytes of "é"
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.write(body.subarray(0, split));
    // A separate chunk on the wire: the second byte of "é" arrives on its own.
    setImmediate(() => res.end(body.subarray(split)));
  });
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const dir = await mkdtemp(join(tmpdir(), "setpoint-loop-"));
  try {
    await writeFile(
      join(dir, "kubeconfig"),
      kubeconfigFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    );
    const backend = await connectKubernetes({ kubeconfig: join(dir, "kubeconfig") });
    for (let i = 0; i < 5; i++) {
      const list = await backend.list(Thing);
      expect(list.items.map((item) => item.metadata.name)).toEqual(["café"]);
    }
    expect(connections).toBe(1);
    await backend.close();
  } finally {
    server.closeAllConnections();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

it("asks for a list's next page while the current one is still arriving, when told the caller reads them all", async () => {
  const requested: string[] = [];
  let releaseFirst: () => void = () => {};
  const server = createServer((req, res) => {
    const token = new URL(req.url ?? "/", "http://x").searchParams.get("continue") ?? "";
    requested.push(token);
    res.writeHead(200, { "content-type": "application/json" });
    if (token === "") {
      // The metadata (with the continue token) first; the items only once page two is asked for.
      res.write(
        '{"kind":"ThingList","metadata":{"resourceVersion":"10","continue":"p2"},"items":[',
      );
      releaseFirst = () => res.end(`${JSON.stringify(thing("a", "10"))}]}`);
    } else {
      releaseFirst();
      res.end(JSON.stringify({ metadata: { resourceVersion: "10" }, items: [thing("b", "10")] }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const dir = await mkdtemp(join(tmpdir(), "setpoint-loop-"));
  try {
    await writeFile(
      join(dir, "kubeconfig"),
      kubeconfigFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    );
    const backend = await connectKubernetes({ kubeconfig: join(dir, "kubeconfig") });
    const first = await withDeadline(
      backend.list(Thing, { limit: 1, readAhead: true }),
      10_000,
      "the first page (it arrives only once the second is asked for)",
    );
    expect(first.items.map((i) => i.metadata.name)).toEqual(["a"]);
    const second = await backend.list(Thing, {
      limit: 1,
      continue: first.continue!,
      readAhead: true,
    });
    expect(second.items.map((i) => i.metadata.name)).toEqual(["b"]);
    // The second page was asked for once, ahead, and handed over.
    expect(requested).toEqual(["", "p2"]);
    await backend.close();
  } finally {
    server.closeAllConnections();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
