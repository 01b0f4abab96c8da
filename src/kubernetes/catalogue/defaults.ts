/**
 * The defaults Kubernetes' API server gives the built-in kinds on every write (`pkg/apis/*\/v1/
 * defaults.go`), those kubectl users see (`kubectl describe`, `get -o yaml`): a Service's type
 * and ports' protocol, a Deployment's strategy, a container's pull policy… Each takes the
 * validator's output — a fresh copy of what was sent — and fills in what is missing, in place.
 * Defaults that need a running cluster (cluster IPs, a Job's generated selector) are not given.
 */
import type { DaemonSetSpec, DeploymentSpec, StatefulSetSpec } from "kubernetes-types/apps/v1.js";
import type { CronJobSpec, JobSpec } from "kubernetes-types/batch/v1.js";
import type {
  Container,
  PersistentVolumeClaimSpec,
  PodSpec,
  PodTemplateSpec,
  ServiceSpec,
} from "kubernetes-types/core/v1.js";

/** `kubectl`'s and the kubelet's rule: `:latest` or no tag pulls always. */
function pullPolicy(image: string | undefined): string {
  if (image === undefined) return "IfNotPresent";
  const name = image.split("@")[0]!;
  const slash = name.lastIndexOf("/");
  const colon = name.lastIndexOf(":");
  const tag = colon > slash ? name.slice(colon + 1) : undefined;
  return tag === undefined || tag === "latest" ? "Always" : "IfNotPresent";
}

function container(c: Container): void {
  c.terminationMessagePath ??= "/dev/termination-log";
  c.terminationMessagePolicy ??= "File";
  c.imagePullPolicy ??= pullPolicy(c.image);
  for (const port of c.ports ?? []) port.protocol ??= "TCP";
}

/** A pod's spec, as `SetDefaults_PodSpec` and its containers'. */
export function podSpecDefaults(spec: PodSpec): PodSpec {
  spec.restartPolicy ??= "Always";
  spec.dnsPolicy ??= "ClusterFirst";
  spec.schedulerName ??= "default-scheduler";
  spec.terminationGracePeriodSeconds ??= 30;
  spec.securityContext ??= {};
  for (const c of spec.containers ?? []) container(c);
  for (const c of spec.initContainers ?? []) container(c);
  return spec;
}

function template(t: PodTemplateSpec | undefined): void {
  if (t?.spec !== undefined) podSpecDefaults(t.spec);
}

export function deploymentDefaults(spec: DeploymentSpec): DeploymentSpec {
  spec.replicas ??= 1;
  spec.strategy ??= { type: "RollingUpdate" };
  spec.strategy.type ??= "RollingUpdate";
  if (spec.strategy.type === "RollingUpdate") {
    spec.strategy.rollingUpdate ??= {};
    spec.strategy.rollingUpdate.maxSurge ??= "25%";
    spec.strategy.rollingUpdate.maxUnavailable ??= "25%";
  }
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  template(spec.template);
  return spec;
}

export function statefulSetDefaults(spec: StatefulSetSpec): StatefulSetSpec {
  spec.replicas ??= 1;
  spec.podManagementPolicy ??= "OrderedReady";
  spec.updateStrategy ??= { type: "RollingUpdate" };
  spec.updateStrategy.type ??= "RollingUpdate";
  if (spec.updateStrategy.type === "RollingUpdate") {
    spec.updateStrategy.rollingUpdate ??= {};
    spec.updateStrategy.rollingUpdate.partition ??= 0;
  }
  spec.revisionHistoryLimit ??= 10;
  spec.persistentVolumeClaimRetentionPolicy ??= {};
  spec.persistentVolumeClaimRetentionPolicy.whenDeleted ??= "Retain";
  spec.persistentVolumeClaimRetentionPolicy.whenScaled ??= "Retain";
  template(spec.template);
  return spec;
}

export function daemonSetDefaults(spec: DaemonSetSpec): DaemonSetSpec {
  spec.updateStrategy ??= { type: "RollingUpdate" };
  spec.updateStrategy.type ??= "RollingUpdate";
  if (spec.updateStrategy.type === "RollingUpdate") {
    spec.updateStrategy.rollingUpdate ??= {};
    spec.updateStrategy.rollingUpdate.maxUnavailable ??= 1;
    spec.updateStrategy.rollingUpdate.maxSurge ??= 0;
  }
  spec.revisionHistoryLimit ??= 10;
  template(spec.template);
  return spec;
}

export function replicaSetDefaults<T extends { replicas?: number; template?: PodTemplateSpec }>(
  spec: T,
): T {
  spec.replicas ??= 1;
  template(spec.template);
  return spec;
}

export function jobDefaults(spec: JobSpec): JobSpec {
  if (spec.completions === undefined && spec.parallelism === undefined) {
    spec.completions = 1;
    spec.parallelism = 1;
  }
  spec.parallelism ??= 1;
  spec.backoffLimit ??= 6;
  spec.completionMode ??= "NonIndexed";
  spec.suspend ??= false;
  template(spec.template);
  return spec;
}

export function cronJobDefaults(spec: CronJobSpec): CronJobSpec {
  spec.concurrencyPolicy ??= "Allow";
  spec.suspend ??= false;
  spec.successfulJobsHistoryLimit ??= 3;
  spec.failedJobsHistoryLimit ??= 1;
  if (spec.jobTemplate?.spec !== undefined) template(spec.jobTemplate.spec.template);
  return spec;
}

/** A Service's spec, as `SetDefaults_Service` (a cluster IP is never allocated). */
export function serviceDefaults(spec: ServiceSpec): ServiceSpec {
  spec.type ??= "ClusterIP";
  spec.sessionAffinity ??= "None";
  if (spec.type !== "ExternalName") spec.internalTrafficPolicy ??= "Cluster";
  for (const port of spec.ports ?? []) {
    port.protocol ??= "TCP";
    port.targetPort ??= port.port;
  }
  return spec;
}

export function persistentVolumeClaimDefaults(
  spec: PersistentVolumeClaimSpec,
): PersistentVolumeClaimSpec {
  spec.volumeMode ??= "Filesystem";
  return spec;
}
