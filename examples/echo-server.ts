/**
 * roperator's EchoServer, ported: a composite whose parent `EchoServer {servicePort}` makes a Pod
 * running an echo server (replaced when its spec changes: Pods cannot change in place) and a
 * Service in front of it (changed in place), and reports in its status what the children say.
 * Delete a child and it comes back; delete the EchoServer and both go with it.
 *
 *   npm run setpoint -- run examples/echo-server.ts --serve 8080 --kubeconfig-out ./kubeconfig
 *   kubectl --kubeconfig ./kubeconfig apply -f examples/echo-server.yaml
 *   kubectl --kubeconfig ./kubeconfig get echoservers,pods,svc
 *
 * On `setpoint serve` nothing runs Pods (as in envtest): the status says the Pod is Pending.
 */
import { composite, defineKind } from "setpoint";
import { Pod, Service } from "setpoint/kubernetes";
import { z } from "zod";

export const EchoServer = defineKind({
  group: "example.roperator.dev",
  version: "v1",
  kind: "EchoServer",
  scope: "Namespaced",
  spec: z.object({ servicePort: z.number().int().min(1).max(65535).default(8080) }),
  status: z.object({
    pod: z.string().optional(),
    url: z.string().optional(),
    observedGeneration: z.number().int().optional(),
    conditions: z.array(z.record(z.string(), z.unknown())).optional(),
  }),
  printerColumns: [
    { name: "Pod", type: "string", jsonPath: ".status.pod" },
    { name: "URL", type: "string", jsonPath: ".status.url" },
  ],
});

export const echoServers = composite(EchoServer, {
  name: "echo-servers",
  children: [
    { kind: Pod, updateStrategy: "Recreate" },
    { kind: Service, updateStrategy: "InPlace" },
  ],
  sync({ parent, children }) {
    const name = parent.metadata.name;
    const labels = { app: "echo-server", "echo-server": name };
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, labels },
      spec: {
        containers: [
          {
            name: "echo",
            image: "ealen/echo-server:0.9.2",
            env: [{ name: "PORT", value: "8080" }],
            ports: [{ name: "http", containerPort: 8080 }],
          },
        ],
      },
    };
    const service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, labels },
      spec: {
        selector: labels,
        ports: [{ name: "http", port: parent.spec.servicePort, targetPort: "http" }],
      },
    };
    const observedPod = children.of(Pod)[0];
    const observedService = children.of(Service)[0];
    return {
      children: [pod, service],
      // What the children say now, not what is wanted.
      status: {
        pod: observedPod === undefined ? "Missing" : (observedPod.status?.phase ?? "Pending"),
        ...(observedService === undefined
          ? {}
          : {
              url: `http://${name}.${parent.metadata.namespace}.svc:${observedService.spec?.ports?.[0]?.port}`,
            }),
      },
    };
  },
});
