/**
 * `YamlParser`: YAML request bodies parsed on a worker thread, so that no body can hold up the
 * server. The `yaml` library needs time out of proportion to some inputs (seconds for a few
 * hundred kilobytes of mapping keys, 20 s for 3 MiB of `[`); on the event loop that would stop
 * every other request, watches and `/version` included.
 *
 * Guarantees: the server's thread never parses YAML; one worker, started on the first YAML
 * body, parses one body at a time, in the order they came; a parse that takes longer than
 * `timeoutMs` (counted from when the worker starts on that body, not from when it was queued)
 * or more than 256 MiB of heap ends the worker and fails that body alone, as
 * RequestEntityTooLarge — the bodies queued behind it go on, on a new worker; flow collections
 * nested deeper than objects may be are BadRequest. Bodies queued are bounded by the server's
 * limit on requests in flight.
 * Caveats: duplicate keys are allowed, the last one wins (as the API server's non-strict YAML
 * decoding); at most 100 alias expansions (the `yaml` library's guard against alias bombs).
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { ApiError, badRequest } from "../../model/api-error.js";
import { type Clock, systemClock, type Timer } from "../../model/clock.js";
import { maxNestingDepth } from "../../model/validation.js";

/**
 * What the worker runs: CommonJS, given the path of the `yaml` package and the deepest flow
 * nesting to parse. Deep flow collections are refused from the lexer's tokens before `parse`
 * sees them: parsing 300,000 `[` runs V8 out of memory compiling a regular expression.
 */
const workerSource = `
const { parentPort, workerData } = require("node:worker_threads");
const { Lexer, parse } = require(workerData.yaml);
function tooDeep(text, limit) {
  let depth = 0;
  for (const token of new Lexer().lex(text)) {
    if (token === "[" || token === "{") {
      if (++depth > limit) return true;
    } else if (token === "]" || token === "}") depth--;
  }
  return false;
}
parentPort.on("message", ({ id, text }) => {
  let reply;
  try {
    reply = tooDeep(text, workerData.maxDepth)
      ? { id, error: "flow collections nest deeper than " + workerData.maxDepth + " levels" }
      : { id, value: parse(text, { uniqueKeys: false }) };
  } catch (err) {
    reply = { id, error: String((err && err.message) || err).split("\\n")[0] };
  }
  try {
    parentPort.postMessage(reply);
  } catch (err) {
    parentPort.postMessage({ id, error: "the document cannot be read as JSON" });
  }
});
`;

/** A body waiting for the worker, or being parsed by it. */
interface Pending {
  readonly id: number;
  readonly text: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** Parses YAML documents on a worker thread; see the module's doc for its guarantees. */
export class YamlParser {
  private worker: Worker | undefined;
  /** Bodies in the order they came; the first is the one being parsed. */
  private readonly queue: Pending[] = [];
  /** Ends the body being parsed once it has had `timeoutMs`. */
  private timer: Timer | undefined;
  private nextId = 0;

  /**
   * @param timeoutMs the longest one body may take to parse, once the worker starts on it. @default 10_000
   * @param clock what the time limit is measured on. @default systemClock
   */
  constructor(
    private readonly timeoutMs = 10_000,
    private readonly clock: Clock = systemClock,
  ) {}

  /** The value of the YAML document `text`; BadRequest if it is not YAML. */
  parse(text: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, text, resolve, reject });
      if (this.queue.length === 1) this.startNext();
    });
  }

  /** Ends the worker; bodies still being parsed or waiting fail. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.timer?.cancel();
    const error = new ApiError("ServiceUnavailable", "the server is shutting down");
    for (const waiting of this.queue.splice(0)) waiting.reject(error);
    await worker?.terminate();
  }

  /**
   * Hands the first body in the queue to the worker and starts its clock: a body's time limit
   * counts from when the worker starts on it, not from when it was queued, so one slow body
   * fails alone rather than every body queued behind it.
   */
  private startNext(): void {
    const next = this.queue[0];
    if (next === undefined) return;
    const worker = this.start();
    this.timer = this.clock.setTimer(this.timeoutMs, () => {
      this.fail(
        next.id,
        new ApiError(
          "RequestEntityTooLarge",
          `the YAML body took more than ${this.timeoutMs} ms to parse; send it as JSON`,
        ),
      );
    });
    worker.postMessage({ id: next.id, text: next.text });
  }

  /** Settles the body being parsed (if it is `id`) and starts on the next. */
  private settle(id: number, outcome: { value: unknown } | { error: ApiError }): void {
    const current = this.queue[0];
    if (current === undefined || current.id !== id) return;
    this.queue.shift();
    this.timer?.cancel();
    if ("error" in outcome) current.reject(outcome.error);
    else current.resolve(outcome.value);
    this.startNext();
  }

  /** Fails the body being parsed with `error` and ends the worker, which may be stuck on it. */
  private fail(id: number, error: ApiError): void {
    const current = this.queue[0];
    if (current === undefined || current.id !== id) return;
    const worker = this.worker;
    this.worker = undefined;
    void worker?.terminate();
    this.settle(id, { error });
  }

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(workerSource, {
      eval: true,
      workerData: {
        yaml: createRequire(import.meta.url).resolve("yaml"),
        maxDepth: maxNestingDepth,
      },
      // A body that would take more memory ends the worker, not the process.
      resourceLimits: { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 32 },
    });
    worker.unref(); // a parser never keeps the process alive
    worker.on(
      "message",
      ({ id, value, error }: { id: number; value?: unknown; error?: string }) => {
        if (this.worker !== worker) return;
        this.settle(
          id,
          error === undefined
            ? { value }
            : { error: badRequest(`the request body is not valid YAML: ${error}`) },
        );
      },
    );
    // A worker that dies fails the body it was parsing; the next body starts a new one.
    worker.on("error", (err) => {
      if (this.worker === worker && this.queue[0] !== undefined)
        this.fail(
          this.queue[0].id,
          new ApiError(
            "RequestEntityTooLarge",
            `the YAML body could not be parsed: ${err.message}`,
          ),
        );
    });
    worker.on("exit", () => {
      if (this.worker === worker && this.queue[0] !== undefined)
        this.fail(this.queue[0].id, new ApiError("InternalError", "the YAML parser stopped"));
      else if (this.worker === worker) this.worker = undefined;
    });
    this.worker = worker;
    return worker;
  }
}
