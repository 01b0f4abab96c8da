/**
 * kube-runtime's ConfigMapGenerator, ported: a `ConfigMapGenerator {content}` whose controller
 * owns a ConfigMap holding the content. Deleting the ConfigMap brings it back (`.owns()`
 * reconciles its owner); deleting the generator takes the ConfigMap with it (its owner
 * reference). Reconciled again every 5 minutes; a failed reconcile again a minute later.
 *
 *   npm run setpoint -- run examples/configmap-generator.ts --serve 8080 --kubeconfig-out ./kubeconfig
 *   kubectl --kubeconfig ./kubeconfig apply -f examples/configmap-generator.yaml
 *   kubectl --kubeconfig ./kubeconfig get configmapgenerators,cm
 *
 * On a cluster: `setpoint manifests examples/configmap-generator.ts --image …` prints its CRD,
 * RBAC and Deployment.
 */
import { controller, controllerReference, defineKind, requeueAfter } from "setpoint";
import { ConfigMap } from "setpoint/kubernetes";
import { z } from "zod";

export const ConfigMapGenerator = defineKind({
  group: "nullable.se",
  version: "v1",
  kind: "ConfigMapGenerator",
  scope: "Namespaced",
  shortNames: ["cmg"],
  spec: z.object({ content: z.string() }),
});

export const configMapGenerator = controller(ConfigMapGenerator, {
  name: "configmap-generator",
  async reconcile(generator, { plane, log }) {
    const { name, namespace } = generator.metadata;
    // Server-side apply: the ConfigMap becomes what this says, whatever it was (force: the
    // fields are taken over from any other manager, as kube-runtime's example does).
    await plane.resources(ConfigMap, { namespace }).patch(name, {
      type: "apply",
      fieldManager: "configmap-generator",
      force: true,
      patch: {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name, ownerReferences: [controllerReference(generator)] },
        data: { content: generator.spec.content },
      },
    });
    log.info({ configMap: name }, "ConfigMap applied");
    return requeueAfter(300_000);
  },
  errorPolicy: () => requeueAfter(60_000),
}).owns(ConfigMap);
