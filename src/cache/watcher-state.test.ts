import { describe, expect, it } from "vitest";
import type { ObjectList, StoredObject } from "../backend/backend.js";
import { ApiError } from "../model/api-error.js";
import { step, type WatcherState } from "./watcher-state.js";

const object = (name: string, resourceVersion: string) =>
  ({ metadata: { name, resourceVersion } }) as unknown as StoredObject;
const page = (items: StoredObject[], resourceVersion: string, next?: string): ObjectList => ({
  items,
  resourceVersion,
  ...(next ? { continue: next } : {}),
});
const gone = new ApiError("Expired", "too old resource version");

describe("watcher state machine", () => {
  it("lists page by page, then emits the whole list once and watches from the list's revision", () => {
    let s = step({ phase: "idle" }, { type: "start" });
    expect(s.effects).toEqual([{ type: "list", continue: undefined }]);
    s = step(s.state, { type: "page", page: page([object("a", "3")], "10", "token") });
    expect(s.effects).toEqual([{ type: "list", continue: "token" }]);
    s = step(s.state, { type: "page", page: page([object("b", "4")], "10") });
    expect(s.state).toEqual({ phase: "watching", resourceVersion: "10" });
    expect(s.effects).toEqual([
      {
        type: "emit",
        event: {
          type: "replace",
          items: [object("a", "3"), object("b", "4")],
          resourceVersion: "10",
        },
      },
      { type: "watch", resourceVersion: "10" },
    ]);
  });

  it("emits each change and remembers its revision, bookmarks included", () => {
    const watching: WatcherState = { phase: "watching", resourceVersion: "10" };
    let s = step(watching, {
      type: "event",
      event: { type: "MODIFIED", object: object("a", "11") },
    });
    expect(s.effects).toEqual([
      { type: "emit", event: { type: "apply", object: object("a", "11") } },
    ]);
    s = step(s.state, { type: "event", event: { type: "DELETED", object: object("a", "12") } });
    expect(s.effects).toEqual([
      { type: "emit", event: { type: "delete", object: object("a", "12") } },
    ]);
    s = step(s.state, { type: "event", event: { type: "BOOKMARK", resourceVersion: "40" } });
    expect(s).toEqual({ state: { phase: "watching", resourceVersion: "40" }, effects: [] });
  });

  it("watches again from the last revision when a watch ends or goes quiet, without relisting", () => {
    const watching: WatcherState = { phase: "watching", resourceVersion: "12" };
    expect(step(watching, { type: "watchEnded" }).effects).toEqual([
      { type: "watch", resourceVersion: "12" },
    ]);
    expect(step(watching, { type: "quiet" }).effects).toEqual([
      { type: "stopWatch" },
      { type: "watch", resourceVersion: "12" },
    ]);
  });

  it("relists at once when the watch is Gone", () => {
    const s = step(
      { phase: "watching", resourceVersion: "12" },
      { type: "watchFailed", error: gone },
    );
    expect(s.state).toEqual({ phase: "listing", continue: undefined, pages: [] });
    expect(s.effects).toEqual([{ type: "stopWatch" }, { type: "list", continue: undefined }]);
  });

  it("relists at once when the watch's revision is ahead of the store (504 Too large resource version: a restarted store's watchers kept stale caches)", () => {
    const tooLarge = new ApiError("Timeout", "Too large resource version: 99, current: 3", {
      details: {
        causes: [
          { reason: "ResourceVersionTooLarge", message: "Too large resource version", field: "" },
        ],
      },
    });
    const s = step(
      { phase: "watching", resourceVersion: "99" },
      { type: "watchFailed", error: tooLarge },
    );
    expect(s.effects).toEqual([{ type: "stopWatch" }, { type: "list", continue: undefined }]);
    // Any other timeout backs off as before.
    const other = step(
      { phase: "watching", resourceVersion: "12" },
      { type: "watchFailed", error: new ApiError("Timeout", "slow") },
    );
    expect(other.state.phase).toBe("backingOff");
  });

  it("restarts a list whose continue token expired", () => {
    const s = step(
      { phase: "listing", continue: "old", pages: [[object("a", "1")]] },
      { type: "listFailed", error: gone },
    );
    expect(s.state).toEqual({ phase: "listing", continue: undefined, pages: [] });
  });

  it("backs off on other errors and resumes where it failed", () => {
    const error = new ApiError("ServiceUnavailable", "down");
    let s = step({ phase: "watching", resourceVersion: "12" }, { type: "watchFailed", error });
    expect(s.state).toEqual({ phase: "backingOff", resume: "watch", resourceVersion: "12" });
    expect(s.effects).toContainEqual({ type: "backoff", error });
    s = step(s.state, { type: "backoffElapsed" });
    expect(s.effects).toEqual([{ type: "watch", resourceVersion: "12" }]);
    s = step({ phase: "listing", continue: undefined, pages: [] }, { type: "listFailed", error });
    s = step(s.state, { type: "backoffElapsed" });
    expect(s.effects).toEqual([{ type: "list", continue: undefined }]);
  });

  it("ignores inputs that do not fit the phase", () => {
    const listing: WatcherState = { phase: "listing", continue: undefined, pages: [] };
    expect(
      step(listing, { type: "event", event: { type: "ADDED", object: object("a", "1") } }),
    ).toEqual({ state: listing, effects: [] });
    expect(step(listing, { type: "backoffElapsed" }).effects).toEqual([]);
    expect(step({ phase: "watching", resourceVersion: "1" }, { type: "start" }).effects).toEqual(
      [],
    );
  });
});
