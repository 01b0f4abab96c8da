import { describe, expect, it } from "vitest";
import type { StoredObject, WatchEvent } from "./backend.js";
import { WatchChannel } from "./watch-channel.js";

const bookmark = (rv: number): WatchEvent => ({ type: "BOOKMARK", resourceVersion: String(rv) });

describe("WatchChannel", () => {
  it("hands a pushed event to a waiting consumer, and buffers it otherwise", async () => {
    const channel = new WatchChannel();
    const waiting = channel.next();
    channel.push(bookmark(1));
    expect(await waiting).toEqual({ done: false, value: bookmark(1) });
    channel.push(bookmark(2));
    channel.push(bookmark(3));
    expect(channel.backlog).toBe(2);
    expect(channel.poll()).toEqual(bookmark(2));
    expect(await channel.next()).toEqual({ done: false, value: bookmark(3) });
  });

  it("delivers the error after the buffered events, once, then ends", async () => {
    const channel = new WatchChannel();
    channel.push(bookmark(1));
    channel.fail(new Error("gone"));
    channel.push(bookmark(2));
    expect(await channel.next()).toEqual({ done: false, value: bookmark(1) });
    await expect(channel.next()).rejects.toThrow("gone");
    expect((await channel.next()).done).toBe(true);
  });

  it("fails a waiting consumer at once", async () => {
    const channel = new WatchChannel();
    const waiting = channel.next();
    channel.fail(new Error("gone"));
    await expect(waiting).rejects.toThrow("gone");
  });

  it("ends after the buffered events when the producer ends it, and calls onEnd once", async () => {
    let ends = 0;
    const channel = new WatchChannel({ onEnd: () => ends++ });
    channel.push(bookmark(1));
    channel.end();
    channel.close();
    expect(ends).toBe(1);
    expect(await channel.next()).toEqual({ done: false, value: bookmark(1) });
    expect((await channel.next()).done).toBe(true);
  });

  it("ends a waiting consumer when closed, by return() or when its signal aborts", async () => {
    const closed = new WatchChannel();
    const waiting = closed.next();
    closed.close();
    expect((await waiting).done).toBe(true);

    const returned = new WatchChannel();
    expect((await returned.return()).done).toBe(true);
    expect((await returned.next()).done).toBe(true);

    const controller = new AbortController();
    const aborted = new WatchChannel({ signal: controller.signal });
    const pending = aborted.next();
    controller.abort();
    expect((await pending).done).toBe(true);
    expect(new WatchChannel({ signal: controller.signal }).isEnded).toBe(true);
  });

  it("calls onDrained once the consumer has taken events down to the mark", () => {
    const channel = new WatchChannel();
    for (let i = 0; i < 5; i++) channel.push(bookmark(i));
    let drained = 0;
    channel.onDrained(() => drained++, 2);
    channel.poll();
    channel.poll();
    expect(drained).toBe(0);
    channel.poll();
    expect(drained).toBe(1);
    channel.poll();
    channel.poll();
    expect(drained).toBe(1);
  });

  it("pulls from a lazy producer when nothing is buffered, and asks it to wake the consumer", async () => {
    const ready: WatchEvent<StoredObject>[] = [];
    let waits = 0;
    const channel = new WatchChannel({ pull: () => ready.shift(), onWait: () => waits++ });
    expect(channel.poll()).toBeUndefined();
    const waiting = channel.next();
    expect(waits).toBe(1);
    channel.wake();
    expect(waits).toBe(2); // nothing yet: it waits again
    ready.push(bookmark(7));
    channel.wake();
    expect(await waiting).toEqual({ done: false, value: bookmark(7) });
  });

  it("keeps few taken events when the consumer never quite catches up", () => {
    const channel = new WatchChannel();
    for (let i = 0; i < 10_000; i++) {
      channel.push(bookmark(i));
      channel.push(bookmark(i));
      channel.poll();
    }
    expect(channel.backlog).toBe(10_000);
    const buffer = (channel as unknown as { buffer: unknown[] }).buffer;
    expect(buffer.length).toBeLessThan(2 * 10_000 + 2048);
  });

  it("is failed from the start when made failed", async () => {
    const channel = WatchChannel.failed(new Error("cannot start"));
    await expect(channel.next()).rejects.toThrow("cannot start");
    expect((await channel.next()).done).toBe(true);
  });
});
