/**
 * The seeds' examples over built-in kinds, ported: kube-runtime's ConfigMapGenerator and
 * roperator's EchoServer, each driven with kubectl against `setpoint serve` — once with the
 * controllers on the served plane itself (as `setpoint run --serve` runs them), once through the
 * Kubernetes backend (the code a user runs against a real cluster).
 */
import { describe, expect, it } from "vitest";
import { ConfigMapGenerator, configMapGenerator } from "../examples/configmap-generator.js";
import { EchoServer, echoServers } from "../examples/echo-server.js";
import type { Controller } from "../src/controller/controller.js";
import { createControlPlane, Manager, silentLogger } from "../src/index.js";
import { connectKubernetes } from "../src/kubernetes/index.js";
import type { AnyKind } from "../src/model/kind.js";
import { eventually } from "../src/testing/eventually.js";
import { hasKubectl, type Served, serveForKubectl } from "./support/kubectl.js";

type Mode = "on the served plane" | "through connectKubernetes";
const modes: Mode[] = ["on the served plane", "through connectKubernetes"];

/** Serves a plane of `kinds`, runs `controllers` in `mode`, and hands kubectl to `use`. */
async function withOperator(
  mode: Mode,
  kinds: readonly AnyKind[],
  controllers: readonly Controller<never>[],
  use: (served: Served) => Promise<void>,
): Promise<void> {
  const served = createControlPlane({ kinds });
  const env = await serveForKubectl(served);
  const plane =
    mode === "on the served plane"
      ? served
      : createControlPlane({ backend: await connectKubernetes({ kubeconfig: env.kubeconfig }) });
  const manager = new Manager({ plane, logger: silentLogger(), shutdownTimeoutMs: 5_000 });
  manager.add(...controllers);
  const stop = new AbortController();
  const running = manager.run({ signal: stop.signal });
  try {
    await manager.ready();
    await use(env);
  } finally {
    stop.abort();
    await running;
    if (plane !== served) await plane.close();
    await env.close();
    await served.close();
  }
}

const until = { timeoutMs: 15_000 };

describe.runIf(hasKubectl).each(modes)("the ConfigMapGenerator %s", (mode) => {
  it("keeps a ConfigMap with the generator's content, brings it back when deleted, and goes with its generator", async () => {
    await withOperator(mode, [ConfigMapGenerator], [configMapGenerator], async (env) => {
      await env.kubectl("apply", "-f", "examples/configmap-generator.yaml");
      await eventually(
        async () => expect(await env.kubectl("get", "cm", "hello")).toMatch(/hello\s+1\s+/),
        until,
      );
      const data = JSON.parse(await env.kubectl("get", "cm", "hello", "-o", "json"));
      expect(data.data.content).toBe("greeting: hello from setpoint\n");
      expect(data.metadata.ownerReferences[0]).toMatchObject({
        kind: "ConfigMapGenerator",
        name: "hello",
        controller: true,
      });

      await env.kubectl("delete", "cm", "hello");
      await eventually(
        async () => expect(await env.kubectl("get", "cm", "hello")).toMatch(/hello/),
        until,
      );

      await env.kubectl(
        "patch",
        "cmg",
        "hello",
        "--type",
        "merge",
        "-p",
        '{"spec":{"content":"changed"}}',
      );
      await eventually(
        async () =>
          expect(await env.kubectl("get", "cm", "hello", "-o", "jsonpath={.data.content}")).toBe(
            "changed",
          ),
        until,
      );

      await env.kubectl("delete", "configmapgenerator", "hello");
      await eventually(
        async () =>
          expect(await env.kubectl("get", "cm", "-o", "name")).not.toContain("configmap/hello"),
        until,
      );
    });
  });
});

describe.runIf(hasKubectl).each(modes)("the EchoServer %s", (mode) => {
  it("makes a Pod and a Service, reports them, replaces a deleted Pod, follows the port, and goes with its parent", async () => {
    await withOperator(mode, [EchoServer], [echoServers], async (env) => {
      await env.kubectl("apply", "-f", "examples/echo-server.yaml");
      await eventually(async () => {
        const listed = await env.kubectl("get", "pods,svc");
        expect(listed).toMatch(/pod\/hello\s/);
        expect(listed).toMatch(/service\/hello\s+ClusterIP\s/);
      }, until);
      await eventually(
        async () =>
          expect(await env.kubectl("get", "echoservers", "hello")).toMatch(
            /hello\s+Pending\s+http:\/\/hello\.default\.svc:80\s/,
          ),
        until,
      );
      const pod = JSON.parse(await env.kubectl("get", "pod", "hello", "-o", "json"));
      expect(pod.spec.containers[0].image).toBe("ealen/echo-server:0.9.2");

      await env.kubectl("delete", "pod", "hello");
      await eventually(async () => {
        const again = JSON.parse(await env.kubectl("get", "pod", "hello", "-o", "json"));
        expect(again.metadata.uid).not.toBe(pod.metadata.uid);
      }, until);

      await env.kubectl(
        "patch",
        "echoserver",
        "hello",
        "--type",
        "merge",
        "-p",
        '{"spec":{"servicePort":8081}}',
      );
      await eventually(
        async () =>
          expect(
            await env.kubectl("get", "svc", "hello", "-o", "jsonpath={.spec.ports[0].port}"),
          ).toBe("8081"),
        until,
      );

      await env.kubectl("delete", "echoserver", "hello");
      await eventually(async () => {
        const left = await env.kubectl("get", "pods,svc", "-o", "name");
        expect(left).not.toContain("pod/hello");
        expect(left).not.toContain("service/hello");
      }, until);
    });
  });
});
