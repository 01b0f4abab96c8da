/**
 * The handlers of resource paths: get, create, replace, patch and delete of one object (lists
 * and watches of a collection are {@link serveList}'s), and the subresources — `status` (writes
 * that change only status), `scale` (an `autoscaling/v1` Scale view) and a Namespace's
 * `finalize`. Every write checks, in Kubernetes' order, its options (`fieldValidation`,
 * `dryRun`), its body, the namespace it goes into (`NamespaceLifecycle` admission), the kind's
 * rules, and — for `fieldValidation=Strict` and for CRDs — the result of a dry run first.
 */
import type { StoredObject } from "../../backend/backend.js";
import { applyBody, prepareWrite, timestamp } from "../../backend/object-rules.js";
import { checkAppliedType } from "../../backend/server-side-apply.js";
import { ApiError, alreadyExists } from "../../model/api-error.js";
import { kindId } from "../../model/kind.js";
import { namespaceNameLabel } from "../../model/namespace.js";
import type { ObjectKey } from "../../model/resource.js";
import { CustomResourceDefinition, Namespace } from "../builtin-kinds.js";
import { strategicPatchFields } from "../strategic-merge-patch.js";
import { builtinPatchSchema, strategicPatchUnsupported } from "../strategic-patch-schema.js";
import { moduleCrdReadOnly } from "./crd-registry.js";
import { finalizeNamespace } from "./finalize-namespace.js";
import { serveList } from "./list-handler.js";
import { patchView } from "./patch-view.js";
import { mediaType, parseBody, readBody, readObject, readPatch } from "./request-body.js";
import type { RequestContext, ResourceRequest } from "./request-context.js";
import {
  booleanParam,
  deleteOptionsOf,
  fieldValidationParam,
  forbidden,
  invalidOptions,
  isDryRun,
  type OptionsKind,
} from "./request-options.js";
import type { ResourcePath } from "./request-target.js";
import { send } from "./responses.js";
import { scaledObject, scaleOf } from "./scale.js";
import { checkStrict, placed } from "./sent-object.js";
import { wantsTable } from "./table.js";

/**
 * Serves a request for a resource path: finds the kind it names (NotFound if none, or if the
 * subresource or the namespace does not fit the kind) and hands it to its method's handler.
 */
export async function handleResource(request: RequestContext, path: ResourcePath): Promise<void> {
  const { server, method } = request;
  const served = await server.crds.find(path.group, path.version, path.plural);
  const { kind } = served;
  const isNamespace = !server.keepsNamespaces && kindId(kind) === kindId(Namespace);
  const subresource = path.subresource;
  if (
    subresource !== undefined &&
    // A flat kind without a status (a ConfigMap, a Role) has no status subresource.
    !(subresource === "status" && (kind.layout !== "flat" || kind.status !== undefined)) &&
    !(subresource === "scale" && kind.scale !== undefined) &&
    !(subresource === "finalize" && isNamespace)
  ) {
    throw new ApiError(
      "NotFound",
      `the server could not find the requested resource (subresource "${subresource}" of ${kind.plural})`,
    );
  }
  if (kind.scope === "Cluster" && path.namespace !== undefined) {
    throw new ApiError("NotFound", `${kind.plural} is cluster-scoped: it has no namespaced path`);
  }
  const resource: ResourceRequest = {
    ...request,
    path,
    served,
    isNamespace,
    isCrd: kindId(kind) === kindId(CustomResourceDefinition),
    key: (): ObjectKey => {
      if (path.name === undefined)
        throw new ApiError("MethodNotAllowed", `${method} needs an object name`);
      if (kind.scope === "Namespaced" && path.namespace === undefined)
        throw new ApiError("NotFound", `${kind.plural} is namespaced: name a namespace`);
      return kind.scope === "Namespaced"
        ? { namespace: path.namespace, name: path.name }
        : { name: path.name };
    },
  };
  // The CRDs of the modules' kinds are served, not stored: read-only.
  const moduleCrd =
    resource.isCrd && path.name !== undefined ? server.crds.moduleCrds().get(path.name) : undefined;
  if (moduleCrd !== undefined && method !== "GET") throw moduleCrdReadOnly(moduleCrd);
  switch (method) {
    case "GET":
      if (path.name === undefined) return serveList(resource);
      if (moduleCrd !== undefined) return respondObject(resource, 200, moduleCrd);
      return getObject(resource);
    case "POST":
      return createObject(resource);
    case "PUT":
      return replaceObject(resource);
    case "PATCH":
      return patchObject(resource);
    case "DELETE":
      return deleteObject(resource);
    default:
      throw new ApiError("MethodNotAllowed", `method ${method} is not allowed here`);
  }
}

/** GET of one object, or of its Scale. */
async function getObject(request: ResourceRequest): Promise<void> {
  const { served, server, path } = request;
  const object = await server.backend.get(served.storage, request.key());
  if (path.subresource === "scale") send(request.res, 200, scaleOf(served.kind.scale!, object));
  else respondObject(request, 200, object);
}

/** POST: a create (a Namespace is created as Kubernetes creates namespaces). */
async function createObject(request: ResourceRequest): Promise<void> {
  const { server, served, path } = request;
  if (path.name !== undefined)
    throw new ApiError("MethodNotAllowed", "POST creates: it takes no object name on the URL");
  const { dryRun, strict, fieldManager } = writeOptions(request, "CreateOptions");
  const sent = placed(
    await readObject(request.req, server.maxBodyBytes, server.yaml),
    served.kind,
    path,
  );
  const sentMeta = sent.metadata as Record<string, unknown>;
  if (
    request.isCrd &&
    typeof sentMeta.name === "string" &&
    server.crds.moduleCrds().has(sentMeta.name)
  )
    throw alreadyExists({
      group: CustomResourceDefinition.group,
      kind: "customresourcedefinitions",
      name: sentMeta.name,
    });
  await admit(request, sentMeta.namespace, sentMeta.name, true, dryRun);
  const body = await stored(request, sent, "create");
  served.checkCreate?.(body);
  const { backend } = server;
  await trial(request, strict, sent, (dryRun) =>
    backend.create(served.storage, body as never, { dryRun, fieldManager }),
  );
  respondObject(
    request,
    201,
    request.isNamespace
      ? await server.namespaces.create(body as never, { dryRun, fieldManager })
      : await backend.create(served.storage, body as never, { dryRun, fieldManager }),
  );
}

/** PUT: a replace of the object, its status, its Scale, or a Namespace's finalizers. */
async function replaceObject(request: ResourceRequest): Promise<void> {
  const { server, served, path } = request;
  const { kind, storage } = served;
  const { backend } = server;
  const subresource = path.subresource;
  const { dryRun, strict, fieldManager } = writeOptions(request, "UpdateOptions");
  const sent = placed(await readObject(request.req, server.maxBodyBytes, server.yaml), kind, path);
  const sentMeta = sent.metadata as Record<string, unknown>;
  await admit(request, sentMeta.namespace, sentMeta.name, false, dryRun);
  if (subresource === "scale") {
    const current = await backend.get(storage, request.key());
    const result = await backend.update(
      storage,
      scaledObject(kind.scale!, current, sent) as never,
      { dryRun, fieldManager },
    );
    send(request.res, 200, scaleOf(kind.scale!, result));
    return;
  }
  if (subresource === "finalize") {
    respondObject(request, 200, await finalizeNamespace(backend, request.key().name, sent, dryRun));
    return;
  }
  if (request.isNamespace && subresource === undefined)
    // Kubernetes keeps a namespace's name label whatever an update says.
    sent.metadata = {
      ...sentMeta,
      labels: {
        ...((sentMeta.labels as Record<string, string> | undefined) ?? {}),
        [namespaceNameLabel]: String(sentMeta.name),
      },
    };
  const body = await stored(request, sent, "update");
  const write =
    subresource === "status" ? backend.updateStatus.bind(backend) : backend.update.bind(backend);
  await trial(request, strict, sent, (dryRun) =>
    write(storage, body as never, { dryRun, fieldManager }),
  );
  respondObject(request, 200, await write(storage, body as never, { dryRun, fieldManager }));
}

/** PATCH: merge, JSON and apply patches of the object, its status, its Scale, or a view. */
async function patchObject(request: ResourceRequest): Promise<void> {
  const { server, served, path, query } = request;
  const { kind, storage } = served;
  const { backend } = server;
  const subresource = path.subresource;
  const options = writeOptions(request, "PatchOptions");
  const { dryRun, fieldManager } = options;
  const force = booleanParam(query, "force");
  const patch = await readPatch(request.req, server.maxBodyBytes, query, server.yaml);
  if (patch.type === "apply" && patch.fieldManager === undefined)
    throw invalidOptions("PatchOptions", [
      {
        field: "fieldManager",
        reason: "FieldValueRequired",
        message: "Required value: is required for apply patch",
      },
    ]);
  // As kube-apiserver: a served apply names the type it applies (400 `invalid object type`).
  if (patch.type === "apply" && subresource !== "scale")
    checkAppliedType(patch.patch as Record<string, unknown>, kind.apiVersion, kind.kind, true);
  // As kube-apiserver, which never strategic-merges a custom resource (nor its scale): 415 first.
  if (
    patch.type === "strategic" &&
    builtinPatchSchema(kind.group, kind.version, kind.kind) === undefined
  )
    throw strategicPatchUnsupported();
  if (force !== undefined && patch.type !== "apply")
    throw invalidOptions("PatchOptions", [
      forbidden("force", "may not be specified for non-apply patch"),
    ]);
  if (subresource === "finalize")
    throw new ApiError("MethodNotAllowed", "the finalize subresource takes PUT only");
  // A JSON patch names paths, not fields.
  const strict = options.strict && patch.type !== "json";
  // An apply of a missing object creates it: read once, for the namespace's admission, a
  // namespace's own creation and the answer's 201.
  const creates = patch.type === "apply" && subresource === undefined && !(await exists(request));
  await admit(request, path.namespace, path.name, creates, dryRun);
  if (request.isNamespace && creates) {
    // A namespace applied into being is created as Kubernetes creates namespaces.
    respondObject(
      request,
      200,
      await server.namespaces.create(
        // With the applier's managed fields, as any apply that creates.
        applyBody(
          kind,
          request.key(),
          { ...patch, patch: placed(patch.patch, kind, path) },
          timestamp(server.clock.wallNow()),
        ) as never,
        { dryRun },
      ),
    );
    return;
  }
  if (subresource === "scale" || served.view) {
    // A patch of a view (a Scale, a core v1 Event) applies to the view, which is then
    // written back, as the API server patches them: preconditioned on the version read,
    // and tried again on a conflict unless the patch names a version itself.
    const scale = subresource === "scale" ? kind.scale! : undefined;
    const manager = patch.type === "apply" ? patch.fieldManager : fieldManager;
    const result = await patchView(
      backend,
      storage,
      request.key(),
      patch,
      { dryRun, fieldManager: manager },
      {
        toView: (object) =>
          scale === undefined ? served.toServed(object) : scaleOf(scale, object),
        fromView: async (view, current) =>
          scale === undefined
            ? await stored(request, view, "update")
            : scaledObject(scale, current, view),
        create:
          scale === undefined && patch.type === "apply"
            ? async (view) => {
                const body = await stored(request, placed(view, kind, path), "create");
                served.checkCreate?.(body);
                return body;
              }
            : undefined,
      },
    );
    if (scale === undefined) respondObject(request, 200, result);
    else send(request.res, 200, scaleOf(scale, result));
    return;
  }
  const patchOptions = {
    dryRun,
    fieldManager,
    ...(subresource === "status" ? { subresource: "status" as const } : {}),
  };
  const sent =
    patch.type === "strategic"
      ? strategicPatchFields(patch.patch)
      : (patch.patch as Record<string, unknown>);
  await trial(
    request,
    strict,
    sent,
    (dryRun) => backend.patch(storage, request.key(), patch, { ...patchOptions, dryRun }),
    // The elements of a strategic patch's lists, checked against the definition alone.
    patch.type === "strategic" ? strategicPatchFields(patch.patch, "kept") : undefined,
  );
  // An apply that creates the object answers 201 Created, as kube-apiserver's.
  const result = await backend.patch(storage, request.key(), patch, patchOptions);
  respondObject(request, creates ? 201 : 200, result);
}

/** DELETE: a delete (a Namespace's turns it Terminating; see NamespaceLifecycle). */
async function deleteObject(request: ResourceRequest): Promise<void> {
  const { server, served, path, req } = request;
  const subresource = path.subresource;
  if (subresource === "scale" || subresource === "finalize")
    throw new ApiError("MethodNotAllowed", `the ${subresource} subresource cannot be deleted`);
  const raw = await readBody(req, server.maxBodyBytes);
  const { dryRun, preconditions } = deleteOptionsOf(
    raw.length > 0 ? await parseBody(raw, mediaType(req), server.yaml) : undefined,
    request.query,
  );
  if (request.isNamespace) {
    // Terminating now; the namespace goes once its content has (see NamespaceLifecycle).
    respondObject(
      request,
      200,
      await server.namespaces.delete(request.key().name, {
        dryRun,
        ...(preconditions ? { preconditions } : {}),
      }),
    );
    return;
  }
  const deleted = await server.backend.delete(served.storage, request.key(), {
    dryRun,
    ...(preconditions ? { preconditions } : {}),
  });
  // An object held by finalizers is returned as it now is (202); one gone, as it was (200).
  respondObject(
    request,
    deleted.metadata.deletionTimestamp !== undefined &&
      (deleted.metadata.finalizers?.length ?? 0) > 0
      ? 202
      : 200,
    deleted,
  );
}

/**
 * The `fieldValidation` and `dryRun` of a write, checked (in that order) before its body is read,
 * and its field manager: the `fieldManager` parameter, else (as kube-apiserver) the first word of
 * the user agent (`kubectl/v1.31.0 (linux/amd64) …` → `kubectl`).
 */
function writeOptions(
  { query, req }: ResourceRequest,
  optionsKind: OptionsKind,
): { readonly dryRun: boolean; readonly strict: boolean; readonly fieldManager?: string } {
  const strict = fieldValidationParam(query, optionsKind) === "Strict";
  const dryRun = isDryRun(query.getAll("dryRun"), optionsKind);
  const fieldManager = fieldManagerOf(query, req.headers["user-agent"], optionsKind);
  return fieldManager === undefined ? { dryRun, strict } : { dryRun, strict, fieldManager };
}

/** The manager a write names or its user agent implies; `undefined` when neither says. */
function fieldManagerOf(
  query: URLSearchParams,
  userAgent: string | undefined,
  optionsKind: OptionsKind,
): string | undefined {
  const named = query.get("fieldManager");
  if (named !== null && named !== "") {
    if (named.length > 128 || !/^[\x20-\x7e]*$/.test(named))
      throw invalidOptions(optionsKind, [
        {
          field: "fieldManager",
          reason: "FieldValueInvalid",
          message: `Invalid value: ${JSON.stringify(named)}: must be at most 128 printable characters`,
        },
      ]);
    return named;
  }
  // kube-apiserver's prefixFromUserAgent: up to the first slash, printable, at most 128.
  const prefix = (userAgent ?? "")
    .split("/")[0]!
    .replace(/[^\x20-\x7e]/g, "")
    .slice(0, 128);
  return prefix === "" ? undefined : prefix;
}

/**
 * Tries a write as a dry run first where its result must be checked before it is made: for
 * unknown fields (Strict), and for a CRD, whose name and names only the result shows (a
 * generated name, a patch) and which may not take over a kind this server serves. Strict
 * compares `body` with the result, and checks `bodyForDefinition` against the kind's definition.
 */
async function trial(
  request: ResourceRequest,
  strict: boolean,
  body: Record<string, unknown>,
  write: (dryRun: boolean) => Promise<StoredObject>,
  bodyForDefinition: Record<string, unknown> = body,
): Promise<void> {
  if (!strict && !request.isCrd) return;
  const result = await write(true);
  if (strict) {
    const { served, path } = request;
    const names = served.unknownFields;
    const unknown = names === undefined ? [] : names(bodyForDefinition, path.subresource);
    checkStrict(body, served.toServed(result), path.subresource, unknown);
  }
  if (request.isCrd) request.server.crds.checkServable(result);
}

/**
 * An object as a client sent it, in the stored shape: for a view, checked against the
 * served kind's schema first (so that faults name the fields the client sent), then
 * converted.
 */
async function stored(
  { served }: ResourceRequest,
  sent: Record<string, unknown>,
  write: "create" | "update",
): Promise<Record<string, unknown>> {
  if (!served.view) return sent;
  await prepareWrite(served.kind, sent, write);
  return served.toStored(sent);
}

/** Sends a stored object as this kind serves it (a Table when asked for one). */
function respondObject(request: ResourceRequest, code: number, object: StoredObject): void {
  const { served, res } = request;
  const shown = served.toServed(object);
  if (wantsTable(request.accept))
    send(
      res,
      code,
      served.table(
        [shown],
        { resourceVersion: shown.metadata.resourceVersion },
        request.server.clock.wallNow(),
      ),
    );
  else send(res, code, shown);
}

/**
 * Kubernetes' `NamespaceLifecycle` admission: no write into a namespace that does not exist,
 * no create into one being deleted.
 */
async function admit(
  { server, served }: ResourceRequest,
  namespace: unknown,
  name: unknown,
  creates: boolean | (() => Promise<boolean>),
  dryRun: boolean,
): Promise<void> {
  if (
    server.keepsNamespaces ||
    served.kind.scope !== "Namespaced" ||
    typeof namespace !== "string" ||
    namespace === ""
  )
    return;
  await server.namespaces.admit(served.kind, namespace, {
    name: typeof name === "string" ? name : undefined,
    creates,
    missing: "refuse",
    dryRun,
  });
}

/** Whether the object the path names exists. */
async function exists(request: ResourceRequest): Promise<boolean> {
  return request.server.backend.get(request.served.storage, request.key()).then(
    () => true,
    (err) => {
      if (ApiError.is(err, "NotFound")) return false;
      throw err;
    },
  );
}
