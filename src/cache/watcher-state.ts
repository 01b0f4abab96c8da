/**
 * The list+watch loop as a pure state machine: `step(state, input)` returns the next state and
 * the effects to carry out, so that every transition is tested without I/O. {@link Watcher}
 * carries the effects out against a Backend.
 *
 * ```
 * listing ──page (more)──▶ listing
 * listing ──last page───▶ watching      (emit the whole list: the cache swaps it in)
 * watching ─event───────▶ watching      (emit it; remember its revision)
 * watching ─ended/idle──▶ watching      (watch again from the last revision: no relist)
 * any ──────Gone (410)──▶ listing       (relist now; also on 504 Too large resource version)
 * any ──────other error─▶ backoff ──elapsed──▶ where it failed
 * ```
 */

import type { ObjectList, StoredObject, WatchEvent } from "../backend/backend.js";
import { ApiError } from "../model/api-error.js";

/** Where the loop is. */
export type WatcherState =
  | { readonly phase: "idle" }
  | {
      readonly phase: "listing";
      readonly continue: string | undefined;
      /** The pages so far, joined once the last arrives (joining as they come is quadratic). */
      readonly pages: readonly (readonly StoredObject[])[];
    }
  | { readonly phase: "watching"; readonly resourceVersion: string }
  | {
      readonly phase: "backingOff";
      readonly resume: "list" | "watch";
      readonly resourceVersion: string | undefined;
    };

/** What happened. */
export type WatcherInput =
  | { readonly type: "start" }
  | { readonly type: "page"; readonly page: ObjectList }
  | { readonly type: "listFailed"; readonly error: unknown }
  | { readonly type: "event"; readonly event: WatchEvent }
  | { readonly type: "watchEnded" }
  | { readonly type: "watchFailed"; readonly error: unknown }
  | { readonly type: "quiet" }
  | { readonly type: "backoffElapsed" };

/** What the cache is told. */
export type CacheEvent =
  | {
      readonly type: "replace";
      readonly items: readonly StoredObject[];
      readonly resourceVersion: string;
    }
  | { readonly type: "apply"; readonly object: StoredObject }
  | { readonly type: "delete"; readonly object: StoredObject };

/** What the driver does next. */
export type WatcherEffect =
  | { readonly type: "list"; readonly continue: string | undefined }
  | { readonly type: "watch"; readonly resourceVersion: string }
  | { readonly type: "stopWatch" }
  | { readonly type: "emit"; readonly event: CacheEvent }
  | { readonly type: "backoff"; readonly error: unknown };

export interface Step {
  readonly state: WatcherState;
  readonly effects: readonly WatcherEffect[];
}

const startListing: WatcherState = { phase: "listing", continue: undefined, pages: [] };

function failed(
  error: unknown,
  resume: "list" | "watch",
  resourceVersion: string | undefined,
): Step {
  if (ApiError.isGone(error) || ApiError.isTooLargeResourceVersion(error)) {
    // The resume point (or the list's snapshot) is gone, or ahead of the store (whose revisions
    // began again): only a fresh list can go on.
    return {
      state: startListing,
      effects: [{ type: "stopWatch" }, { type: "list", continue: undefined }],
    };
  }
  return {
    state: { phase: "backingOff", resume, resourceVersion },
    effects: [{ type: "stopWatch" }, { type: "backoff", error }],
  };
}

/** The next state and effects after `input`; inputs that do not fit the state are ignored. */
export function step(state: WatcherState, input: WatcherInput): Step {
  switch (input.type) {
    case "start":
      return state.phase === "idle"
        ? { state: startListing, effects: [{ type: "list", continue: undefined }] }
        : { state, effects: [] };
    case "page": {
      if (state.phase !== "listing") return { state, effects: [] };
      const pages = [...state.pages, input.page.items];
      if (input.page.continue) {
        return {
          state: { phase: "listing", continue: input.page.continue, pages },
          effects: [{ type: "list", continue: input.page.continue }],
        };
      }
      const items = pages.length === 1 ? pages[0]! : pages.flat();
      const resourceVersion = input.page.resourceVersion;
      return {
        state: { phase: "watching", resourceVersion },
        effects: [
          { type: "emit", event: { type: "replace", items, resourceVersion } },
          { type: "watch", resourceVersion },
        ],
      };
    }
    case "listFailed":
      return state.phase === "listing"
        ? failed(input.error, "list", undefined)
        : { state, effects: [] };
    case "event": {
      if (state.phase !== "watching") return { state, effects: [] };
      const { event } = input;
      if (event.type === "BOOKMARK") {
        return {
          state: { phase: "watching", resourceVersion: event.resourceVersion },
          effects: [],
        };
      }
      const resourceVersion = event.object.metadata.resourceVersion;
      const emitted: CacheEvent =
        event.type === "DELETED"
          ? { type: "delete", object: event.object }
          : { type: "apply", object: event.object };
      return {
        state: { phase: "watching", resourceVersion },
        effects: [{ type: "emit", event: emitted }],
      };
    }
    case "watchEnded":
      return state.phase === "watching"
        ? { state, effects: [{ type: "watch", resourceVersion: state.resourceVersion }] }
        : { state, effects: [] };
    case "quiet":
      return state.phase === "watching"
        ? {
            state,
            effects: [
              { type: "stopWatch" },
              { type: "watch", resourceVersion: state.resourceVersion },
            ],
          }
        : { state, effects: [] };
    case "watchFailed":
      return state.phase === "watching"
        ? failed(input.error, "watch", state.resourceVersion)
        : { state, effects: [] };
    case "backoffElapsed":
      if (state.phase !== "backingOff") return { state, effects: [] };
      if (state.resume === "watch" && state.resourceVersion !== undefined) {
        return {
          state: { phase: "watching", resourceVersion: state.resourceVersion },
          effects: [{ type: "watch", resourceVersion: state.resourceVersion }],
        };
      }
      return { state: startListing, effects: [{ type: "list", continue: undefined }] };
  }
}
