/**
 * The columns `kubectl get` shows for Kubernetes' built-in kinds, as the API server prints them
 * (`pkg/printers/internalversion/printers.go`): each a {@link PrinterColumn} whose `value`
 * computes the cell from the object (READY "1/3", a pod's STATUS, AGE), with a `jsonPath` that
 * says the same as nearly as a JSONPath can, for a CRD.
 */

import { humanDuration } from "../../model/duration.js";
import type { PrinterColumn } from "../../model/kind.js";

// biome-ignore lint/suspicious/noExplicitAny: columns read any kind's JSON
type Json = any;

/** How long ago `time` (RFC 3339) was, as kubectl shows it; `<unknown>` without one. */
export function since(time: unknown, now: number): string {
  const at = typeof time === "string" ? Date.parse(time) : Number.NaN;
  return Number.isNaN(at) ? "<unknown>" : humanDuration(now - at);
}

const num = (value: unknown): number => (typeof value === "number" ? value : 0);

/** A string column computed by `value`. */
export function column(
  name: string,
  jsonPath: string,
  value: (object: Json, now: number) => unknown,
  options: { type?: PrinterColumn["type"]; priority?: number; description?: string } = {},
): PrinterColumn {
  return {
    name,
    type: options.type ?? "string",
    jsonPath,
    value,
    ...(options.priority === undefined ? {} : { priority: options.priority }),
    ...(options.description === undefined ? {} : { description: options.description }),
  };
}

/** AGE, where Kubernetes puts it (before the `-o wide` columns). */
export const age: PrinterColumn = column(
  "Age",
  ".metadata.creationTimestamp",
  (object, now) => since(object.metadata?.creationTimestamp, now),
  {
    description:
      "CreationTimestamp is a timestamp representing the server time when this object was created.",
  },
);

/** Labels or a selector's `matchLabels` as `a=b,c=d`; `<none>` when empty. */
export function labelsText(labels: unknown): string {
  if (labels === null || typeof labels !== "object") return "<none>";
  const entries = Object.entries(labels as Record<string, unknown>);
  return entries.length === 0
    ? "<none>"
    : entries
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(",");
}

/** A `LabelSelector` as kubectl prints it (`app=web,tier in (a,b)`); `<none>` when empty. */
export function selectorText(selector: Json): string {
  if (selector === null || typeof selector !== "object") return "<none>";
  const parts: string[] = [];
  for (const [k, v] of Object.entries((selector.matchLabels ?? {}) as Record<string, unknown>))
    parts.push(`${k}=${String(v)}`);
  for (const e of (selector.matchExpressions ?? []) as Json[]) {
    const values = ((e.values ?? []) as string[]).join(",");
    if (e.operator === "In") parts.push(`${e.key} in (${values})`);
    else if (e.operator === "NotIn") parts.push(`${e.key} notin (${values})`);
    else if (e.operator === "Exists") parts.push(`${e.key}`);
    else if (e.operator === "DoesNotExist") parts.push(`!${e.key}`);
  }
  return parts.length === 0 ? "<none>" : parts.sort().join(",");
}

/** CONTAINERS, IMAGES and SELECTOR (`-o wide`) of a kind with a pod template at `spec.template`. */
export function templateColumns(templatePath: (object: Json) => Json, selector: boolean) {
  const containers = (object: Json): Json[] => templatePath(object)?.spec?.containers ?? [];
  return [
    column(
      "Containers",
      ".spec.template.spec.containers[*].name",
      (o) =>
        containers(o)
          .map((c) => c.name)
          .join(","),
      { priority: 1, description: "Names of each container in the template." },
    ),
    column(
      "Images",
      ".spec.template.spec.containers[*].image",
      (o) =>
        containers(o)
          .map((c) => c.image)
          .join(","),
      { priority: 1, description: "Images referenced by each container in the template." },
    ),
    ...(selector
      ? [
          column("Selector", ".spec.selector", (o) => selectorText(o.spec?.selector), {
            priority: 1,
          }),
        ]
      : []),
  ];
}

/** `ready/desired`, as Deployments and StatefulSets show READY. */
export function readyOf(object: Json): string {
  return `${num(object.status?.readyReplicas)}/${num(object.spec?.replicas)}`;
}

/** An integer column read from `path`, 0 when absent. */
export function count(name: string, path: string, read: (object: Json) => unknown) {
  return column(name, path, (o) => num(read(o)), { type: "integer" });
}

/** A pod's READY: ready containers of all (restartable init containers count). */
export function podReady(pod: Json): string {
  const statuses = (pod.status?.containerStatuses ?? []) as Json[];
  const containers = (pod.spec?.containers ?? []) as Json[];
  const sidecars = new Set(
    ((pod.spec?.initContainers ?? []) as Json[])
      .filter((c) => c.restartPolicy === "Always")
      .map((c) => c.name),
  );
  let ready = statuses.filter((s) => s.ready === true).length;
  for (const s of (pod.status?.initContainerStatuses ?? []) as Json[])
    if (sidecars.has(s.name) && s.ready === true) ready++;
  return `${ready}/${containers.length + sidecars.size}`;
}

/** A pod's RESTARTS: the sum, and how long ago the last one was (`2 (5m ago)`). */
export function podRestarts(pod: Json, now: number): string {
  let restarts = 0;
  let last = Number.NaN;
  const statuses = [
    ...((pod.status?.initContainerStatuses ?? []) as Json[]),
    ...((pod.status?.containerStatuses ?? []) as Json[]),
  ];
  for (const s of statuses) {
    restarts += num(s.restartCount);
    const finished = Date.parse(s.lastState?.terminated?.finishedAt ?? "");
    if (!Number.isNaN(finished) && !(finished <= last)) last = finished;
  }
  return Number.isNaN(last) || restarts === 0
    ? String(restarts)
    : `${restarts} (${humanDuration(now - last)} ago)`;
}

/** A pod's STATUS, as `printPod` works it out from phase, reason and container states. */
export function podStatus(pod: Json): string {
  let reason: string = pod.status?.reason ?? pod.status?.phase ?? "Pending";
  const spec = pod.spec ?? {};
  const initStatuses = (pod.status?.initContainerStatuses ?? []) as Json[];
  const initCount = ((spec.initContainers ?? []) as Json[]).length;
  let initializing = false;
  for (const [i, s] of initStatuses.entries()) {
    const terminated = s.state?.terminated;
    const waiting = s.state?.waiting;
    if (terminated !== undefined && terminated.exitCode === 0) continue;
    if (s.started === true && s.state?.running !== undefined) continue;
    if (terminated !== undefined) {
      reason =
        terminated.reason !== undefined && terminated.reason !== ""
          ? `Init:${terminated.reason}`
          : terminated.signal
            ? `Init:Signal:${terminated.signal}`
            : `Init:ExitCode:${terminated.exitCode}`;
    } else if (waiting?.reason !== undefined && waiting.reason !== "PodInitializing")
      reason = `Init:${waiting.reason}`;
    else reason = `Init:${i}/${initCount}`;
    initializing = true;
    break;
  }
  if (!initializing) {
    let hasRunning = false;
    const statuses = (pod.status?.containerStatuses ?? []) as Json[];
    for (const s of [...statuses].reverse()) {
      const waiting = s.state?.waiting;
      const terminated = s.state?.terminated;
      if (waiting?.reason) reason = waiting.reason;
      else if (terminated?.reason) reason = terminated.reason;
      else if (terminated !== undefined)
        reason = terminated.signal
          ? `Signal:${terminated.signal}`
          : `ExitCode:${terminated.exitCode}`;
      else if (s.ready === true && s.state?.running !== undefined) hasRunning = true;
    }
    if (reason === "Completed" && hasRunning) {
      const readyCondition = ((pod.status?.conditions ?? []) as Json[]).find(
        (c) => c.type === "Ready",
      );
      reason = readyCondition?.status === "True" ? "Running" : "NotReady";
    }
  }
  if (pod.metadata?.deletionTimestamp !== undefined)
    reason = pod.status?.reason === "NodeLost" ? "Unknown" : "Terminating";
  return reason;
}

/** A Job's STATUS (Kubernetes 1.30+): from its conditions. */
export function jobStatus(job: Json): string {
  const conditions = (job.status?.conditions ?? []) as Json[];
  const has = (type: string) => conditions.some((c) => c.type === type && c.status === "True");
  if (has("Complete")) return "Complete";
  if (has("Failed")) return "Failed";
  if (job.metadata?.deletionTimestamp !== undefined) return "Terminating";
  if (has("SuccessCriteriaMet")) return "SuccessCriteriaMet";
  if (has("FailureTarget")) return "FailureTarget";
  if (has("Suspended")) return "Suspended";
  return "Running";
}

/** A Job's COMPLETIONS: `succeeded/completions`, or `n/1 of p` for a parallel job without completions. */
export function jobCompletions(job: Json): string {
  const succeeded = num(job.status?.succeeded);
  const completions = job.spec?.completions;
  if (typeof completions === "number") return `${succeeded}/${completions}`;
  const parallelism = typeof job.spec?.parallelism === "number" ? job.spec.parallelism : 1;
  return parallelism > 1 ? `${succeeded}/1 of ${parallelism}` : `${succeeded}/1`;
}

/** A Job's DURATION: from start to completion, or to now while it runs. */
export function jobDuration(job: Json, now: number): string {
  const start = Date.parse(job.status?.startTime ?? "");
  if (Number.isNaN(start)) return "";
  const end = Date.parse(job.status?.completionTime ?? "");
  return humanDuration((Number.isNaN(end) ? now : end) - start);
}

/** A Service's PORT(S): `80/TCP,443:30443/TCP`. */
export function servicePorts(service: Json): string {
  const ports = (service.spec?.ports ?? []) as Json[];
  return ports.length === 0
    ? "<none>"
    : ports
        .map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ""}/${p.protocol ?? "TCP"}`)
        .join(",");
}

/** A Service's EXTERNAL-IP, as `printService` chooses it by type. */
export function serviceExternalIp(service: Json): string {
  const spec = service.spec ?? {};
  const external = (spec.externalIPs ?? []) as string[];
  const type = spec.type ?? "ClusterIP";
  if (type === "ExternalName") return spec.externalName ?? "<none>";
  if (type === "LoadBalancer") {
    const ingress = ((service.status?.loadBalancer?.ingress ?? []) as Json[])
      .map((i) => i.ip || i.hostname)
      .filter(Boolean);
    const all = [...ingress, ...external];
    return all.length > 0 ? all.join(",") : "<pending>";
  }
  return external.length > 0 ? external.join(",") : "<none>";
}

/** Endpoints' ENDPOINTS: up to three `ip:port`, then `+ N more...`. */
export function endpointsText(endpoints: Json): string {
  const all: string[] = [];
  for (const subset of (endpoints.subsets ?? []) as Json[]) {
    const addresses = (subset.addresses ?? []) as Json[];
    const ports = (subset.ports ?? []) as Json[];
    for (const address of addresses) {
      if (ports.length === 0) all.push(address.ip);
      for (const port of ports) all.push(`${address.ip}:${port.port}`);
    }
  }
  if (all.length === 0) return "<none>";
  return all.length > 3
    ? `${all.slice(0, 3).join(",")} + ${all.length - 3} more...`
    : all.join(",");
}

/** Access modes as kubectl abbreviates them (`RWO,ROX`). */
export function accessModes(modes: unknown): string {
  const short: Record<string, string> = {
    ReadWriteOnce: "RWO",
    ReadOnlyMany: "ROX",
    ReadWriteMany: "RWX",
    ReadWriteOncePod: "RWOP",
  };
  return Array.isArray(modes) ? modes.map((m) => short[m] ?? m).join(",") : "";
}

/** An Ingress' HOSTS: the rules' hosts, `*` for a rule without one. */
export function ingressHosts(ingress: Json): string {
  const hosts = ((ingress.spec?.rules ?? []) as Json[]).map((r) => r.host || "*");
  if (hosts.length === 0) return "*";
  return hosts.length > 3
    ? `${hosts.slice(0, 3).join(",")} + ${hosts.length - 3} more...`
    : hosts.join(",");
}

/** A binding's subjects of one kind, comma-separated. */
export function subjectsOf(binding: Json, kind: string): string {
  return ((binding.subjects ?? []) as Json[])
    .filter((s) => s.kind === kind)
    .map((s) => (kind === "ServiceAccount" ? `${s.namespace ?? ""}/${s.name}` : s.name))
    .join(", ");
}

/** An HPA's TARGETS (autoscaling/v1: CPU utilization). */
export function hpaTargets(hpa: Json): string {
  const target = hpa.spec?.targetCPUUtilizationPercentage;
  const current = hpa.status?.currentCPUUtilizationPercentage;
  const wanted = typeof target === "number" ? `${target}%` : "<none>";
  return `cpu: ${typeof current === "number" ? `${current}%` : "<unknown>"}/${wanted}`;
}
