/**
 * Kubernetes' `batch/v1` kinds: Job and CronJob, both in `kubectl get all`. Nothing runs them:
 * a Job makes no Pods, a CronJob no Jobs.
 */
import type { CronJobSpec, CronJobStatus, JobSpec, JobStatus } from "kubernetes-types/batch/v1.js";
import { defineKind } from "../../model/kind.js";
import { apiSchema } from "./api-schema.js";
import {
  age,
  column,
  jobCompletions,
  jobDuration,
  jobStatus,
  since,
  templateColumns,
} from "./columns.js";
import { cronJobDefaults, jobDefaults } from "./defaults.js";
import { checkJobTemplate } from "./rules.js";

const batch = "k8s.io.api.batch.v1";

/**
 * `Job` (`batch/v1`, category `all`): a pod template whose containers are named and have
 * images. NAME STATUS COMPLETIONS DURATION AGE.
 */
export const Job = defineKind({
  group: "batch",
  version: "v1",
  kind: "Job",
  scope: "Namespaced",
  categories: ["all"],
  spec: apiSchema<JobSpec>(`${batch}.JobSpec`, {
    rules: (spec, errors) => checkJobTemplate(spec.template, "template", errors),
    normalize: jobDefaults,
  }),
  status: apiSchema<JobStatus>(`${batch}.JobStatus`),
  printerColumns: [
    column("Status", ".status.conditions", jobStatus, { description: "Status of the job." }),
    column("Completions", ".status.succeeded", jobCompletions),
    column("Duration", ".status.completionTime", jobDuration, {
      description: "Time required to complete the job.",
    }),
    age,
    ...templateColumns((o) => o.spec?.template, true),
  ],
});

/**
 * `CronJob` (`batch/v1`, short name `cj`, category `all`): a schedule and a job template.
 * NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE.
 */
export const CronJob = defineKind({
  group: "batch",
  version: "v1",
  kind: "CronJob",
  scope: "Namespaced",
  shortNames: ["cj"],
  categories: ["all"],
  spec: apiSchema<CronJobSpec>(`${batch}.CronJobSpec`, {
    rules: (spec, errors) =>
      checkJobTemplate(spec.jobTemplate.spec?.template, "jobTemplate.spec.template", errors),
    normalize: cronJobDefaults,
  }),
  status: apiSchema<CronJobStatus>(`${batch}.CronJobStatus`),
  printerColumns: [
    column("Schedule", ".spec.schedule", (o) => o.spec?.schedule ?? ""),
    column("Timezone", ".spec.timeZone", (o) => o.spec?.timeZone ?? "<none>"),
    column("Suspend", ".spec.suspend", (o) => o.spec?.suspend === true, { type: "boolean" }),
    column("Active", ".status.active", (o) => (o.status?.active ?? []).length, {
      type: "integer",
    }),
    column("Last Schedule", ".status.lastScheduleTime", (o, now) =>
      o.status?.lastScheduleTime ? since(o.status.lastScheduleTime, now) : "<none>",
    ),
    age,
    ...templateColumns((o) => o.spec?.jobTemplate?.spec?.template, true).map((c) =>
      c.name === "Selector"
        ? column("Selector", ".spec.jobTemplate.spec.selector", () => "<none>", { priority: 1 })
        : c,
    ),
  ],
});
