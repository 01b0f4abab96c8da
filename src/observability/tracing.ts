/**
 * Tracing through `@opentelemetry/api`: a span per reconcile, and one per store call made
 * through the reconcile's `ctx.client`, as its children. Without an OpenTelemetry SDK registered
 * by the application, every call here is the API's no-op (a shared non-recording span), so
 * tracing costs next to nothing. Child spans find their parent through the active context,
 * which needs a context manager (the Node SDK registers AsyncLocalStorage's).
 */
import { context, type Span, SpanStatusCode, trace } from "@opentelemetry/api";
import type {
  Backend,
  DeleteOptions,
  ListOptions,
  Patch,
  PatchOptions,
  WatchOptions,
  WriteOptions,
} from "../backend/backend.js";
import type { AnyKind } from "../model/kind.js";
import { kindId } from "../model/kind.js";
import type { Frozen, ObjectKey, ResourceInput } from "../model/resource.js";

/** The tracer setpoint's spans come from. */
export const tracer = trace.getTracer("setpoint");

/** Starts a reconcile's span; `run` executes inside it (the span is the active one there). */
export function reconcileSpan(attributes: {
  controller: string;
  kind: string | undefined;
  key: string;
  reason: string;
}): { span: Span; run<T>(body: () => T): T } {
  const span = tracer.startSpan(`reconcile ${attributes.controller}`);
  // Without an SDK the span records nothing: skip the attributes and the context switch.
  if (!span.isRecording()) return { span, run: (body) => body() };
  span.setAttributes({
    "setpoint.controller": attributes.controller,
    ...(attributes.kind === undefined ? {} : { "setpoint.kind": attributes.kind }),
    "setpoint.key": attributes.key,
    "setpoint.reason": attributes.reason,
  });
  const active = trace.setSpan(context.active(), span);
  return { span, run: (body) => context.with(active, body) };
}

/** Ends a reconcile's span with its result (`success`, `error`, `requeue`, `requeue_after`…). */
export function endReconcileSpan(span: Span, result: string, error: unknown): void {
  if (!span.isRecording()) {
    span.end();
    return;
  }
  span.setAttribute("setpoint.result", result);
  if (error !== undefined) {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: String((error as Error)?.message ?? error),
    });
  }
  span.end();
}

async function traced<T>(
  operation: string,
  kind: AnyKind,
  key: string | undefined,
  call: () => Promise<T>,
): Promise<T> {
  const span = tracer.startSpan(`setpoint ${operation}`);
  if (!span.isRecording()) {
    span.end();
    return call();
  }
  span.setAttributes({ "setpoint.kind": kindId(kind), ...(key ? { "setpoint.key": key } : {}) });
  try {
    return await context.with(trace.setSpan(context.active(), span), call);
  } catch (error) {
    span.recordException(error as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    throw error;
  } finally {
    span.end();
  }
}

const keyOf = (key: ObjectKey) => (key.namespace ? `${key.namespace}/${key.name}` : key.name);
const keyOfObject = (object: Frozen<ResourceInput>) => keyOf(object.metadata as ObjectKey);

/** A Backend whose calls are spans, children of whatever span is active (a reconcile's). */
export class TracedBackend implements Backend {
  constructor(private readonly backend: Backend) {}

  get capabilities() {
    return this.backend.capabilities;
  }
  get(kind: AnyKind, key: ObjectKey) {
    return traced("get", kind, keyOf(key), () => this.backend.get(kind, key));
  }
  list(kind: AnyKind, options?: ListOptions) {
    return traced("list", kind, options?.namespace, () => this.backend.list(kind, options));
  }
  watch(kind: AnyKind, options?: WatchOptions) {
    return this.backend.watch(kind, options);
  }
  create(kind: AnyKind, object: Frozen<ResourceInput>, options?: WriteOptions) {
    return traced("create", kind, keyOfObject(object), () =>
      this.backend.create(kind, object, options),
    );
  }
  update(kind: AnyKind, object: Frozen<ResourceInput>, options?: WriteOptions) {
    return traced("update", kind, keyOfObject(object), () =>
      this.backend.update(kind, object, options),
    );
  }
  updateStatus(kind: AnyKind, object: Frozen<ResourceInput>, options?: WriteOptions) {
    return traced("updateStatus", kind, keyOfObject(object), () =>
      this.backend.updateStatus(kind, object, options),
    );
  }
  patch(kind: AnyKind, key: ObjectKey, patch: Patch, options?: PatchOptions) {
    return traced("patch", kind, keyOf(key), () => this.backend.patch(kind, key, patch, options));
  }
  delete(kind: AnyKind, key: ObjectKey, options?: DeleteOptions) {
    return traced("delete", kind, keyOf(key), () => this.backend.delete(kind, key, options));
  }
  /** The underlying backend is not this wrapper's to close. */
  async close(): Promise<void> {}
}
