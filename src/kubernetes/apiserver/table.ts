/**
 * `meta.k8s.io/v1` Table responses: what `kubectl get` asks for, so that it prints the kind's
 * printer columns. Name first, the kind's columns, Age last, as the real API server does for CRDs
 * — unless the kind computes its columns (`value`), as Kubernetes' own kinds do: those lay out
 * the whole row after the name, Age where Kubernetes puts it (before the `-o wide` columns) or
 * none (Roles show CREATED AT). Other columns read their JSONPath.
 */
import type { StoredObject } from "../../backend/backend.js";
import { humanDuration } from "../../model/duration.js";
import type { AnyKind, PrinterColumn } from "../../model/kind.js";
import { evaluateJsonPath } from "./json-path.js";

/** Whether an `Accept` header asks for a Table. */
export function wantsTable(accept: string | undefined): boolean {
  return accept !== undefined && /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
}

function cell(value: unknown, type: string, now: number): unknown {
  if (value === undefined || value === null) return null;
  if (type === "date") {
    const time = Date.parse(String(value));
    return Number.isNaN(time) ? String(value) : humanDuration(now - time);
  }
  if (type === "integer" || type === "number")
    return typeof value === "number" ? value : Number(value);
  if (type === "boolean") return Boolean(value);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/**
 * A computed cell as JSON: absent is null, objects are JSON text. A column that cannot read an
 * object (one stored before its kind was checked, of another shape) shows nothing: one odd
 * object must not fail a whole list.
 */
function computed(
  value: NonNullable<PrinterColumn["value"]>,
  object: StoredObject,
  now: number,
): unknown {
  let cell: unknown;
  try {
    cell = value(object, now);
  } catch {
    return null;
  }
  if (cell === undefined || cell === null) return null;
  return typeof cell === "object" ? JSON.stringify(cell) : cell;
}

/** A Table of `objects` (one row each), with the kind's printer columns; ages as of `now` (epoch ms). */
export function tableOf(
  kind: AnyKind,
  objects: readonly StoredObject[],
  metadata: Record<string, unknown>,
  now: number,
) {
  const columns = kind.printerColumns;
  const placesAge = columns.some((c) => c.value !== undefined);
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata,
    columnDefinitions: columnDefinitionsOf(kind),
    rows: objects.map((object) => ({
      cells: [
        object.metadata.name,
        ...columns.map((c) =>
          c.value === undefined
            ? cell(evaluateJsonPath(object, c.jsonPath), c.type, now)
            : computed(c.value, object, now),
        ),
        ...(placesAge ? [] : [cell(object.metadata.creationTimestamp, "date", now)]),
      ],
      object: partialObject(object),
    })),
  };
}

/** The column definitions of `kind`'s Tables, made once per kind (a watch sends one per event). */
const definitions = new WeakMap<AnyKind, readonly TableColumnDefinition[]>();

/** A Table column's definition (`meta.k8s.io/v1`). */
export interface TableColumnDefinition {
  readonly name: string;
  readonly type: string;
  readonly format: string;
  readonly description: string;
  readonly priority: number;
}

function columnDefinitionsOf(kind: AnyKind): readonly TableColumnDefinition[] {
  let made = definitions.get(kind);
  if (made === undefined) {
    const columns = kind.printerColumns;
    const placesAge = columns.some((c) => c.value !== undefined);
    made = [
      {
        name: "Name",
        type: "string",
        format: "name",
        description: "Name must be unique within a namespace.",
        priority: 0,
      },
      ...columns.map((c) => ({
        name: c.name,
        type: c.type,
        format: c.format ?? "",
        description: c.description ?? "",
        priority: c.priority ?? 0,
      })),
      ...(placesAge
        ? []
        : [
            {
              name: "Age",
              type: "date",
              format: "",
              description:
                "CreationTimestamp is a timestamp representing the server time when this object was created.",
              priority: 0,
            },
          ]),
    ];
    definitions.set(kind, made);
  }
  return made;
}

/** A string column's definition, as kubectl reads it (`format: "name"` marks the name). */
export function stringColumn(name: string, priority = 0, format = "") {
  return { name, type: "string", format, description: "", priority };
}

/** What a Table row carries of its object: the metadata, as `PartialObjectMetadata`. */
export function partialObject(object: StoredObject) {
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: object.metadata };
}
