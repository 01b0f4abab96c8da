/**
 * Reading a request's body: bounded in size, JSON parsed here and other YAML on the
 * {@link YamlParser}'s worker, and read as an object or as a patch by its media type.
 */
import type { IncomingMessage } from "node:http";
import type { Patch } from "../../backend/backend.js";
import { ApiError, badRequest } from "../../model/api-error.js";
import { isPlainObject } from "../../model/validation.js";
import {
  decodeKubernetesProtobuf,
  ProtobufDecodeError,
  protobufMediaType,
} from "../protobuf/decode.js";
import { booleanParam } from "./request-options.js";
import type { YamlParser } from "./yaml-parser.js";

/** The body of `req`, at most `limit` bytes; a larger one is RequestEntityTooLarge (413). */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (declared > limit)
    throw new ApiError(
      "RequestEntityTooLarge",
      `the request body is ${declared} bytes; the limit is ${limit}`,
    );
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit)
      throw new ApiError(
        "RequestEntityTooLarge",
        `the request body is over the limit of ${limit} bytes`,
      );
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * A request body's value. JSON is parsed here (`JSON.parse` is linear and takes any nesting);
 * a YAML body that is JSON too (what kubectl and client libraries send, even as
 * `apply-patch+yaml`) as well, and any other YAML on `yaml`'s worker thread.
 */
export async function parseBody(
  raw: Buffer,
  contentType: string,
  yaml: YamlParser,
): Promise<unknown> {
  const text = raw.toString("utf8");
  try {
    return JSON.parse(text);
  } catch (err) {
    if (!/yaml/.test(contentType))
      throw badRequest(`the request body is not valid JSON: ${(err as Error).message}`);
  }
  return yaml.parse(text);
}

/** The media type of a request's body, without parameters, in lower case. */
export function mediaType(req: IncomingMessage): string {
  return (req.headers["content-type"] ?? "application/json").split(";")[0]!.trim().toLowerCase();
}

/**
 * The object a create or an update sends: JSON, YAML, or Kubernetes protobuf (what kubectl sends
 * for built-in kinds; a body it cannot read is BadRequest (400), one of a kind without a protobuf
 * definition UnsupportedMediaType (415)); any other type is UnsupportedMediaType (415).
 */
export async function readObject(
  req: IncomingMessage,
  limit: number,
  yaml: YamlParser,
): Promise<Record<string, unknown>> {
  const type = mediaType(req);
  if (type === protobufMediaType) return protobufObject(await readBody(req, limit));
  if (type !== "application/json" && type !== "application/yaml" && type !== "*/*") {
    throw new ApiError(
      "UnsupportedMediaType",
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, ${protobufMediaType}`,
    );
  }
  const body = await parseBody(await readBody(req, limit), type, yaml);
  if (!isPlainObject(body)) throw badRequest("the request body must be a JSON object");
  return body;
}

/** The object of a Kubernetes protobuf body, as JSON. */
function protobufObject(raw: Buffer): Record<string, unknown> {
  try {
    return decodeKubernetesProtobuf(raw).object;
  } catch (err) {
    if (!(err instanceof ProtobufDecodeError)) throw err;
    throw err.unknownKind
      ? new ApiError("UnsupportedMediaType", err.message)
      : badRequest(err.message);
  }
}

/**
 * The patch a PATCH sends, by its media type: a JSON merge patch, a strategic merge patch, a
 * JSON patch, or an apply patch (with the query's `fieldManager` and `force`); any other type is
 * UnsupportedMediaType (415).
 */
export async function readPatch(
  req: IncomingMessage,
  limit: number,
  query: URLSearchParams,
  yaml: YamlParser,
): Promise<Patch> {
  const type = mediaType(req);
  const raw = await readBody(req, limit);
  switch (type) {
    case "application/merge-patch+json": {
      const body = await parseBody(raw, type, yaml);
      if (!isPlainObject(body)) throw badRequest("a merge patch must be a JSON object");
      return { type: "merge", patch: body };
    }
    case "application/strategic-merge-patch+json": {
      const body = await parseBody(raw, type, yaml);
      if (!isPlainObject(body)) throw badRequest("a strategic merge patch must be a JSON object");
      return { type: "strategic", patch: body };
    }
    case "application/json-patch+json": {
      const body = await parseBody(raw, type, yaml);
      if (!Array.isArray(body)) throw badRequest("a JSON patch must be an array of operations");
      return { type: "json", patch: body };
    }
    case "application/apply-patch+yaml":
    case "application/apply-patch+json": {
      const body = await parseBody(raw, "application/yaml", yaml);
      if (!isPlainObject(body)) throw badRequest("an apply patch must be an object");
      const fieldManager = query.get("fieldManager");
      // kubectl sends force=false, and force=true for --force-conflicts.
      const force = booleanParam(query, "force") === true;
      return {
        type: "apply",
        patch: body,
        ...(fieldManager ? { fieldManager } : {}),
        ...(force ? { force } : {}),
      };
    }
    default:
      throw new ApiError(
        "UnsupportedMediaType",
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml`,
      );
  }
}
