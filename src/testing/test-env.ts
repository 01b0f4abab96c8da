import { Registry } from "prom-client";
import { type ControlPlane, createControlPlane } from "../backend/control-plane.js";
import type { Controller } from "../controller/controller.js";
import { Manager } from "../controller/manager.js";
import { type Logger, silentLogger } from "../observability/logging.js";
import { FakeClock, flushMicrotasks } from "./fake-clock.js";

/** Options of {@link createTestEnv}. */
export interface TestEnvOptions {
  /** @default a new in-memory control plane */
  readonly plane?: ControlPlane;
  /** @default a silent logger */
  readonly logger?: Logger;
  /** @default 1_000 */
  readonly shutdownTimeoutMs?: number;
}

/** A control plane and a manager on a fake clock, for testing controllers. */
export interface TestEnv {
  readonly plane: ControlPlane;
  readonly clock: FakeClock;
  readonly manager: Manager;
  readonly registry: Registry;
  /** Adds the controllers, starts the manager, and resolves once they are running. */
  start(...controllers: Controller<never>[]): Promise<void>;
  /** Moves the fake clock forward, firing timers (requeues, retries, resyncs) on the way. */
  advance(ms: number): Promise<void>;
  /** Stops the manager gracefully (advancing the clock past its deadline if needed) and closes the plane. */
  stop(): Promise<void>;
}

/**
 * A control plane and a manager whose time you step.
 *
 * @example
 * ```ts
 * const env = createTestEnv();
 * await env.start(widgets);
 * await env.plane.resources(Widget).create({ metadata: { name: "a" }, spec: { replicas: 1 } });
 * await eventually(() => expect(reconciled).toContain("default/a"));
 * await env.advance(30_000); // the requeue fires
 * await env.stop();
 * ```
 */
export function createTestEnv(options: TestEnvOptions = {}): TestEnv {
  const clock = new FakeClock({ wallNow: Date.now() });
  const plane = options.plane ?? createControlPlane({ clock });
  const registry = new Registry();
  const manager = new Manager({
    plane,
    clock,
    registry,
    logger: options.logger ?? silentLogger(),
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? 1_000,
  });
  const stop = new AbortController();
  let running: Promise<void> | undefined;
  return {
    plane,
    clock,
    manager,
    registry,
    async start(...controllers) {
      manager.add(...controllers);
      running = manager.run({ signal: stop.signal });
      await manager.ready();
    },
    advance: (ms) => clock.advance(ms),
    async stop() {
      stop.abort();
      if (running !== undefined) {
        let stopped = false;
        void running.then(() => {
          stopped = true;
        });
        // Let the shutdown's deadlines pass on the fake clock.
        for (let i = 0; i < 100 && !stopped; i++) {
          await flushMicrotasks();
          if (!stopped) await clock.advance(1_000);
        }
        await running;
      }
      await plane.close();
    },
  };
}
