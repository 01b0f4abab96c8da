import { z } from "zod";
import { defineKind } from "../src/index.js";

/** The benchmarks' kind (store and Kubernetes): a realistic object of about 600 bytes of JSON. */
export const BenchWidget = defineKind({
  group: "bench.setpoint.dev",
  version: "v1",
  kind: "Widget",
  scope: "Namespaced",
  spec: z.object({
    image: z.string(),
    replicas: z.number().int().min(0),
    command: z.array(z.string()),
    ports: z.array(z.object({ name: z.string(), port: z.number().int() })),
    env: z.record(z.string(), z.string()),
  }),
});

export function benchWidget(i: number, prefix = "widget") {
  return {
    metadata: {
      name: `${prefix}-${i}`,
      namespace: `team-${i % 20}`,
      labels: {
        "app.kubernetes.io/name": "shop",
        "app.kubernetes.io/part-of": "store",
        tier: "backend",
      },
      annotations: { "example.com/owner": `team-${i % 20}@example.com` },
    },
    spec: {
      image: "registry.example.com/shop/backend:v1.24.3",
      replicas: 3,
      command: ["/bin/server", "--port=8080", "--metrics-port=9090"],
      ports: [
        { name: "http", port: 8080 },
        { name: "metrics", port: 9090 },
      ],
      env: { LOG_LEVEL: "info", REGION: "eu-west-1" },
    },
  };
}
