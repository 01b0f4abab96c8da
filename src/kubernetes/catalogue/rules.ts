/**
 * The checks of Kubernetes' validation (`pkg/apis/*\/validation`) that kubectl users meet most,
 * beyond structure: container names, template labels and the selectors that must match them.
 * Each adds causes to a {@link FieldErrors} at paths from the validated value's root.
 */
import type { PodSpec, PodTemplateSpec } from "kubernetes-types/core/v1.js";
import type { LabelSelector } from "kubernetes-types/meta/v1.js";
import {
  checkDns1123Label,
  checkLabels,
  type FieldErrors,
  isPlainObject,
} from "../../model/validation.js";

/** A pod spec's containers: present, named (DNS-1123 labels), names unique. */
export function checkPodSpec(spec: PodSpec | undefined, path: string, errors: FieldErrors): void {
  if (spec === undefined) return;
  if (spec.containers.length === 0) errors.required(`${path}.containers`);
  const names = new Set<string>();
  for (const [list, containers] of [
    ["containers", spec.containers],
    ["initContainers", spec.initContainers ?? []],
  ] as const) {
    for (const [i, container] of containers.entries()) {
      const field = `${path}.${list}[${i}].name`;
      if (container.name === "") errors.required(field);
      else {
        checkDns1123Label(errors, field, container.name);
        if (names.has(container.name)) errors.invalid(field, container.name, "Duplicate value");
        names.add(container.name);
      }
      if (list === "containers" && container.image?.trim() === "")
        errors.required(`${path}.${list}[${i}].image`);
    }
  }
}

/** A pod template: its labels valid, its spec as {@link checkPodSpec}. */
export function checkPodTemplate(
  template: PodTemplateSpec | undefined,
  path: string,
  errors: FieldErrors,
): void {
  if (template === undefined) return;
  checkLabels(errors, `${path}.metadata.labels`, template.metadata?.labels);
  checkPodSpec(template.spec, `${path}.spec`, errors);
}

/** A Job's pod template: as {@link checkPodTemplate}, and it restarts `OnFailure` or `Never`. */
export function checkJobTemplate(
  template: PodTemplateSpec | undefined,
  path: string,
  errors: FieldErrors,
): void {
  checkPodTemplate(template, path, errors);
  if (template?.spec === undefined) return;
  // Kubernetes defaults a pod's restartPolicy to Always before it validates a Job's: a Job that
  // says nothing is refused as one that says Always.
  const policy = template.spec.restartPolicy ?? "Always";
  const field = `${path}.spec.restartPolicy`;
  if (policy !== "OnFailure" && policy !== "Never")
    errors.causes.push({
      field,
      reason: "FieldValueNotSupported",
      message: `Unsupported value: "${policy}": supported values: "OnFailure", "Never"`,
    });
}

function matches(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {}))
    if (labels[key] !== value) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    if (e.operator === "In" && !(has && (e.values ?? []).includes(value as string))) return false;
    if (e.operator === "NotIn" && has && (e.values ?? []).includes(value as string)) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

/**
 * A workload's selector and template (Deployment, ReplicaSet, StatefulSet, DaemonSet): the
 * selector not empty, and the template's labels selected by it, as Kubernetes requires.
 */
export function checkSelectedTemplate(
  spec: { selector?: LabelSelector; template?: PodTemplateSpec },
  errors: FieldErrors,
): void {
  const { selector, template } = spec;
  if (selector !== undefined) {
    const empty =
      Object.keys(selector.matchLabels ?? {}).length === 0 &&
      (selector.matchExpressions ?? []).length === 0;
    if (empty) errors.invalid("selector", selector, "empty selector is invalid for deployment");
    const labels = template?.metadata?.labels;
    if (!empty && template !== undefined && !matches(selector, isPlainObject(labels) ? labels : {}))
      errors.invalid(
        "template.metadata.labels",
        labels ?? {},
        "`selector` does not match template `labels`",
      );
  }
  checkPodTemplate(template, "template", errors);
  checkWorkload(spec as WorkloadSpec, errors);
}

/** What Deployments, ReplicaSets, StatefulSets and DaemonSets share beyond their template. */
interface WorkloadSpec {
  readonly replicas?: number;
  readonly template?: PodTemplateSpec;
  readonly strategy?: { readonly type?: string; readonly rollingUpdate?: unknown };
}

/**
 * A workload's replicas not negative, its pods restarted `Always` (a controller replaces pods
 * that end), and no `rollingUpdate` with a `Recreate` strategy — as kube-apiserver validates.
 */
function checkWorkload(spec: WorkloadSpec, errors: FieldErrors): void {
  if (typeof spec.replicas === "number" && spec.replicas < 0)
    errors.invalid("replicas", spec.replicas, "must be greater than or equal to 0");
  const policy = spec.template?.spec?.restartPolicy;
  if (policy !== undefined && policy !== "Always")
    errors.causes.push({
      field: "template.spec.restartPolicy",
      reason: "FieldValueNotSupported",
      message: `Unsupported value: ${JSON.stringify(policy)}: supported values: "Always"`,
    });
  if (spec.strategy?.type === "Recreate" && spec.strategy.rollingUpdate !== undefined)
    errors.forbidden(
      "strategy.rollingUpdate",
      "may not be specified when strategy `type` is 'Recreate'",
    );
}

/** A Service's ports within 1–65535, and at least one unless it is headless or ExternalName. */
export function checkServiceSpec(
  spec: {
    readonly type?: string;
    readonly clusterIP?: string;
    readonly ports?: readonly { readonly port?: number }[];
  },
  errors: FieldErrors,
): void {
  const ports = spec.ports ?? [];
  if (ports.length === 0 && spec.type !== "ExternalName" && spec.clusterIP !== "None")
    errors.required("ports");
  for (const [i, { port }] of ports.entries())
    if (typeof port === "number" && !(port >= 1 && port <= 65535))
      errors.invalid(`ports[${i}].port`, port, "must be between 1 and 65535, inclusive");
}
