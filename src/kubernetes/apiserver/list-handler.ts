/**
 * GET of a collection: a list (`limit`/`continue`, `resourceVersion`/`resourceVersionMatch`,
 * label and field selectors, a Table when asked for one), or with `watch=true` a watch
 * ({@link serveWatch}). Field selectors are split: the store checks `metadata.name` and
 * `metadata.namespace`, the server the kind's own fields (an Event's `reason`) on each object as
 * served.
 */
import type { ListOptions, StoredObject } from "../../backend/backend.js";
import { badRequest } from "../../model/api-error.js";
import { parseFieldSelector, parseLabelSelector, selectableFields } from "../../model/selector.js";
import { listAll } from "../list-pages.js";
import type { ResourceRequest } from "./request-context.js";
import { booleanParam, forbidden, integerParam, invalidOptions } from "./request-options.js";
import { send, sendList } from "./responses.js";
import { wantsTable } from "./table.js";
import { serveWatch, watchRequestOf } from "./watch-handler.js";

/** Serves a list of the request's collection, or a watch of it. */
export async function serveList(request: ResourceRequest): Promise<void> {
  const { served, query, path, server } = request;
  const { kind, storage } = served;
  // The fields a field selector may name here: the store checks metadata's, the server
  // the kind's own (an Event's reason) on each object as served.
  const selectable = [...selectableFields, ...Object.keys(served.fields)];
  const fieldSelector = query.get("fieldSelector")
    ? parseFieldSelector(query.get("fieldSelector")!, selectable).split(selectableFields)
    : undefined;
  const serverFilter =
    fieldSelector === undefined || fieldSelector.out.requirements.length === 0
      ? undefined
      : (object: StoredObject) =>
          fieldSelector.out.matchesFields((field) => served.fields[field]!(object));
  const storeFields =
    fieldSelector === undefined || fieldSelector.in.requirements.length === 0
      ? undefined
      : fieldSelector.in;
  const listOptions: ListOptions = {
    ...(path.namespace === undefined ? {} : { namespace: path.namespace }),
    ...(query.get("labelSelector") ? { labelSelector: query.get("labelSelector")! } : {}),
    ...(storeFields === undefined ? {} : { fieldSelector: storeFields }),
  };
  const modules = request.isCrd ? server.crds.moduleCrds() : undefined;
  const sendInitialEvents = booleanParam(query, "sendInitialEvents");
  if (booleanParam(query, "watch") === true) {
    // Everything a watch could fail on is checked before its 200 and headers go out.
    const watch = watchRequestOf(query, selectable);
    await serveWatch(
      request,
      {
        listOptions,
        filter: serverFilter,
        ...(modules === undefined ? {} : { alsoServed: modules }),
      },
      watch,
    );
    return;
  }
  if (sendInitialEvents !== undefined)
    throw invalidOptions("ListOptions", [
      forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"),
    ]);
  const limit = integerParam(query, "limit") ?? 0;
  let items: StoredObject[];
  let metadata: Record<string, unknown>;
  if (modules !== undefined && modules.size > 0) {
    // Stored CRDs and the modules' in one list, in name order, in one page.
    const all = await listAll(server.backend, storage, {
      ...listOptions,
      ...revisionOptions(query),
    });
    const labels =
      listOptions.labelSelector === undefined
        ? undefined
        : parseLabelSelector(String(listOptions.labelSelector));
    items = [
      ...all.items.filter((crd) => !modules.has(crd.metadata.name)),
      ...[...modules.values()].filter(
        (crd) =>
          (labels === undefined || labels.matches(crd.metadata.labels)) &&
          (storeFields === undefined || storeFields.matches(crd.metadata)),
      ),
    ].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    metadata = { resourceVersion: all.resourceVersion };
  } else {
    const list = await server.backend.list(storage, {
      ...listOptions,
      ...revisionOptions(query),
      ...(limit > 0 ? { limit } : {}),
      ...(query.get("continue") ? { continue: query.get("continue")! } : {}),
    });
    items = list.items.map((o) => served.toServed(o));
    if (serverFilter !== undefined) items = items.filter(serverFilter);
    metadata = {
      resourceVersion: list.resourceVersion,
      ...(list.continue ? { continue: list.continue } : {}),
    };
  }
  if (wantsTable(request.accept))
    send(request.res, 200, served.table(items, metadata, server.clock.wallNow()));
  else
    await sendList(
      request.res,
      { apiVersion: kind.apiVersion, kind: `${kind.kind}List`, metadata },
      items,
    );
}

/**
 * A list's `resourceVersion` and `resourceVersionMatch`, checked as kube-apiserver checks them,
 * for the store: `Exact` reads the state at that revision (from the kept history), otherwise the
 * current state (`Timeout` from the store when it has not reached the revision).
 */
function revisionOptions(
  query: URLSearchParams,
): Pick<ListOptions, "resourceVersion" | "resourceVersionMatch"> {
  const asked = query.get("resourceVersion") ?? "";
  const match = query.get("resourceVersionMatch");
  if (match !== null && match !== "NotOlderThan" && match !== "Exact")
    throw badRequest(`resourceVersionMatch "${match}" is not supported`);
  if (asked === "") {
    if (match !== null)
      throw badRequest("resourceVersionMatch is forbidden unless resourceVersion is provided");
    return {};
  }
  if (!/^[0-9]+$/.test(asked)) throw badRequest(`invalid resourceVersion "${asked}"`);
  if (asked === "0") {
    if (match === "Exact")
      throw badRequest('resourceVersionMatch "Exact" is forbidden for resourceVersion "0"');
    return {};
  }
  return { resourceVersion: asked, ...(match === null ? {} : { resourceVersionMatch: match }) };
}
