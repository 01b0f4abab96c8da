/** Kubernetes' `networking.k8s.io/v1` Ingress. Nothing routes traffic for it. */
import type { IngressSpec, IngressStatus } from "kubernetes-types/networking/v1.js";
import { defineKind } from "../../model/kind.js";
import { apiSchema } from "./api-schema.js";
import { age, column, ingressHosts } from "./columns.js";

const networking = "k8s.io.api.networking.v1";

/** `Ingress` (`networking.k8s.io/v1`, short name `ing`). NAME CLASS HOSTS ADDRESS PORTS AGE. */
export const Ingress = defineKind({
  group: "networking.k8s.io",
  version: "v1",
  kind: "Ingress",
  scope: "Namespaced",
  shortNames: ["ing"],
  spec: apiSchema<IngressSpec>(`${networking}.IngressSpec`),
  status: apiSchema<IngressStatus>(`${networking}.IngressStatus`),
  printerColumns: [
    column("Class", ".spec.ingressClassName", (o) => o.spec?.ingressClassName ?? "<none>"),
    column("Hosts", ".spec.rules[*].host", ingressHosts),
    column("Address", ".status.loadBalancer.ingress", (o) =>
      ((o.status?.loadBalancer?.ingress ?? []) as { ip?: string; hostname?: string }[])
        .map((i) => i.ip || i.hostname)
        .filter(Boolean)
        .join(","),
    ),
    column("Ports", ".spec.tls", (o) => ((o.spec?.tls ?? []).length > 0 ? "80, 443" : "80")),
    age,
  ],
});
