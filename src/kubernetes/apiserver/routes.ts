/**
 * Which handler serves a request, by its path: `/version` and the health checks, discovery
 * (`/api`, `/apis`, `/api/<v>`, `/apis/<g>/<v>`), OpenAPI v3, and resource paths.
 */
import { ApiError } from "../../model/api-error.js";
import {
  aggregatedDiscovery,
  apiGroupList,
  apiResourceList,
  apiVersions,
  wantsAggregated,
} from "./discovery.js";
import { openApiDocument, openApiIndex } from "./openapi.js";
import type { RequestContext } from "./request-context.js";
import { type GroupVersionPath, parseResourcePath } from "./request-target.js";
import { handleResource } from "./resource-handlers.js";
import { send } from "./responses.js";

type Handler = (request: RequestContext) => void | Promise<void>;

/** The paths served as they are, whatever their method. */
const fixedRoutes: ReadonlyMap<string, Handler> = new Map([
  ["/version", versionInfo],
  ["/healthz", healthy],
  ["/livez", healthy],
  ["/readyz", healthy],
  ["/api", discovery],
  ["/apis", discovery],
  ["/openapi/v3", (request) => send(request.res, 200, openApiIndex(request.server.crds.kinds()))],
]);

/** Serves `request` by its path; NotFound for a path that is none of the API's. */
export async function route(request: RequestContext): Promise<void> {
  const { pathname } = request;
  const fixed = fixedRoutes.get(pathname);
  if (fixed !== undefined) return fixed(request);
  if (pathname.startsWith("/openapi/v3/")) return openApiGroupVersion(request);
  const path = parseResourcePath(pathname);
  if (path === undefined)
    throw new ApiError(
      "NotFound",
      `the server could not find the requested resource (${request.method} ${pathname})`,
    );
  if (path.plural === undefined) return groupVersionResources(request, path);
  return handleResource(request, path);
}

/** `/version`: the minor version chooses the kubectl a version dispatcher runs. */
function versionInfo({ res, server }: RequestContext): void {
  const { minorVersion } = server;
  send(res, 200, {
    major: "1",
    minor: String(minorVersion),
    gitVersion: `v1.${minorVersion}.0-setpoint`,
    gitCommit: "setpoint",
    gitTreeState: "clean",
    buildDate: "2026-01-01T00:00:00Z",
    goVersion: "n/a",
    compiler: "setpoint",
    platform: `${process.platform}/${process.arch}`,
  });
}

function healthy({ res }: RequestContext): void {
  res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
}

/** `/api` and `/apis`: aggregated discovery (v2 or v2beta1) when asked for, else the legacy lists. */
function discovery({ res, pathname, accept, server }: RequestContext): void {
  const kinds = server.crds.kinds();
  const aggregated = wantsAggregated(accept);
  if (aggregated !== undefined) {
    const body = aggregatedDiscovery(kinds, pathname === "/api");
    const json = JSON.stringify(
      aggregated === "v2" ? body : { ...body, apiVersion: "apidiscovery.k8s.io/v2beta1" },
    );
    res
      .writeHead(200, {
        "Content-Type": `application/json;g=apidiscovery.k8s.io;v=${aggregated};as=APIGroupDiscoveryList`,
      })
      .end(json);
    return;
  }
  send(res, 200, pathname === "/api" ? apiVersions() : apiGroupList(kinds));
}

/** `/openapi/v3/api/<v>` and `/openapi/v3/apis/<g>/<v>`: one group version's document. */
function openApiGroupVersion({ res, pathname, server }: RequestContext): void {
  const groupVersion = pathname.slice("/openapi/v3/".length);
  const matching = server.crds
    .kinds()
    .filter(
      (k) =>
        (k.group === "" ? `api/${k.version}` : `apis/${k.group}/${k.version}`) === groupVersion,
    );
  if (matching.length === 0)
    throw new ApiError("NotFound", `no OpenAPI document for ${groupVersion}`);
  send(res, 200, openApiDocument(matching));
}

/** `/api/<v>` and `/apis/<g>/<v>`: the resources of a group version. */
function groupVersionResources(
  { res, pathname, server }: RequestContext,
  { group, version }: GroupVersionPath,
): void {
  const matching = server.crds.kinds().filter((k) => k.group === group && k.version === version);
  if (matching.length === 0)
    throw new ApiError(
      "NotFound",
      `the server could not find the requested resource (${pathname})`,
    );
  send(res, 200, apiResourceList(group === "" ? version : `${group}/${version}`, matching));
}
