import { describe, expect, it } from "vitest";
import { createControlPlane } from "../backend/control-plane.js";
import { silentLogger } from "../observability/logging.js";
import { FakeClock } from "../testing/fake-clock.js";
import { Widget } from "../testing/fixtures.js";
import { Event, EventWriter, microTime } from "./events.js";

describe("EventWriter", () => {
  it("writes eventTime and series.lastObservedTime as MicroTime, six fractional digits, the only form client-go parses (kubectl events failed on .998Z)", async () => {
    const plane = createControlPlane();
    const clock = new FakeClock({ wallNow: Date.UTC(2026, 0, 1, 0, 0, 0, 998) });
    const widget = await plane
      .resources(Widget)
      .create({ metadata: { name: "a" }, spec: { replicas: 1 } });
    const recorder = new EventWriter(plane, "widgets", "widgets-1", clock, silentLogger()).about(
      widget,
    );
    await recorder.record({ reason: "Scaled", message: "scaled" });
    await clock.advance(1_500);
    await recorder.record({ reason: "Scaled", message: "scaled" });
    const [event] = (await plane.resources(Event).list()).items as unknown as {
      eventTime: string;
      series: { count: number; lastObservedTime: string };
    }[];
    expect(event!.eventTime).toBe("2026-01-01T00:00:00.998000Z");
    expect(event!.series).toEqual({ count: 2, lastObservedTime: "2026-01-01T00:00:02.498000Z" });
    expect(microTime(0)).toBe("1970-01-01T00:00:00.000000Z");
  });
});
