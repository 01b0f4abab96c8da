/**
 * Kubernetes' `rbac.authorization.k8s.io/v1` kinds: Role, RoleBinding, ClusterRole,
 * ClusterRoleBinding — flat (rules, subjects and roleRef beside `metadata`). Stored, not
 * enforced: `setpoint serve` authorizes nothing by them.
 */
import type {
  ClusterRoleBinding as ClusterRoleBindingObject,
  ClusterRole as ClusterRoleObject,
  RoleBinding as RoleBindingObject,
  Role as RoleObject,
} from "kubernetes-types/rbac/v1.js";
import { defineKind, type PrinterColumn } from "../../model/kind.js";
import { apiSchema } from "./api-schema.js";
import { age, column, subjectsOf } from "./columns.js";
import type { Body } from "./core.js";

const rbac = "k8s.io.api.rbac.v1";
const group = "rbac.authorization.k8s.io";

/** NAME CREATED AT: the API server's default Table, which roles get. */
const createdAt: PrinterColumn = {
  name: "Created At",
  type: "date",
  jsonPath: ".metadata.creationTimestamp",
  value: (o) => o.metadata?.creationTimestamp ?? null,
  description:
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
};

const bindingColumns: PrinterColumn[] = [
  column("Role", ".roleRef.name", (o) => `${o.roleRef?.kind ?? ""}/${o.roleRef?.name ?? ""}`),
  age,
  column("Users", ".subjects", (o) => subjectsOf(o, "User"), { priority: 1 }),
  column("Groups", ".subjects", (o) => subjectsOf(o, "Group"), { priority: 1 }),
  column("ServiceAccounts", ".subjects", (o) => subjectsOf(o, "ServiceAccount"), {
    priority: 1,
  }),
];

/** `Role` (namespaced): `rules`. NAME CREATED AT. */
export const Role = defineKind({
  group,
  version: "v1",
  kind: "Role",
  scope: "Namespaced",
  layout: "flat",
  spec: apiSchema<Body<RoleObject>>(`${rbac}.Role`, { shape: "body" }),
  printerColumns: [createdAt],
});

/** `RoleBinding` (namespaced): `roleRef` and `subjects`. NAME ROLE AGE. */
export const RoleBinding = defineKind({
  group,
  version: "v1",
  kind: "RoleBinding",
  scope: "Namespaced",
  layout: "flat",
  spec: apiSchema<Body<RoleBindingObject>>(`${rbac}.RoleBinding`, { shape: "body" }),
  printerColumns: bindingColumns,
});

/** `ClusterRole` (cluster-scoped): `rules`, `aggregationRule`. NAME CREATED AT. */
export const ClusterRole = defineKind({
  group,
  version: "v1",
  kind: "ClusterRole",
  scope: "Cluster",
  layout: "flat",
  spec: apiSchema<Body<ClusterRoleObject>>(`${rbac}.ClusterRole`, { shape: "body" }),
  printerColumns: [createdAt],
});

/** `ClusterRoleBinding` (cluster-scoped): `roleRef` and `subjects`. NAME ROLE AGE. */
export const ClusterRoleBinding = defineKind({
  group,
  version: "v1",
  kind: "ClusterRoleBinding",
  scope: "Cluster",
  layout: "flat",
  spec: apiSchema<Body<ClusterRoleBindingObject>>(`${rbac}.ClusterRoleBinding`, {
    shape: "body",
  }),
  printerColumns: bindingColumns,
});
