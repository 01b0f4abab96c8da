/**
 * `YamlParser`: YAML request bodies parsed on a worker thread, so that no body can hold up the
 * server. The `yaml` library needs time out of proportion to some inputs (seconds for a few
 * hundred kilobytes of mapping keys, 20 s for 3 MiB of `[`); on the event loop that would stop
 * every other request, watches and `/version` included.
 *
 * Guarantees: the server's thread never parses YAML; one worker, started on the first YAML
 * body, parses one body at a time; a parse that takes longer than `timeoutMs` or more than
 * 256 MiB of heap ends the worker (the next body starts a new one) and fails as
 * RequestEntityTooLarge; flow collections nested deeper than objects may be are BadRequest.
 * Caveats: duplicate keys are allowed, the last one wins (as the API server's non-strict YAML
 * decoding); at most 100 alias expansions (the `yaml` library's guard against alias bombs).
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { ApiError, badRequest } from "../../model/api-error.js";
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

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: NodeJS.Timeout;
}

/** Parses YAML documents on a worker thread; see the module's doc for its guarantees. */
export class YamlParser {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  /** @param timeoutMs the longest one body may take to parse. @default 10_000 */
  constructor(private readonly timeoutMs = 10_000) {}

  /** The value of the YAML document `text`; BadRequest if it is not YAML. */
  parse(text: string): Promise<unknown> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.stop(
          new ApiError(
            "RequestEntityTooLarge",
            `the YAML body took more than ${this.timeoutMs} ms to parse; send it as JSON`,
          ),
        );
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      worker.postMessage({ id, text });
    });
  }

  /** Ends the worker; bodies still being parsed fail. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.stop(new ApiError("ServiceUnavailable", "the server is shutting down"));
    await worker?.terminate();
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
        const waiting = this.pending.get(id);
        if (waiting === undefined) return;
        this.pending.delete(id);
        clearTimeout(waiting.timer);
        if (error === undefined) waiting.resolve(value);
        else waiting.reject(badRequest(`the request body is not valid YAML: ${error}`));
      },
    );
    worker.on("error", (err) => {
      if (this.worker === worker)
        this.stop(
          new ApiError(
            "RequestEntityTooLarge",
            `the YAML body could not be parsed: ${err.message}`,
          ),
        );
    });
    worker.on("exit", () => {
      if (this.worker === worker)
        this.stop(new ApiError("InternalError", "the YAML parser stopped"));
    });
    this.worker = worker;
    return worker;
  }

  private stop(error: ApiError): void {
    const worker = this.worker;
    this.worker = undefined;
    for (const [id, waiting] of this.pending) {
      this.pending.delete(id);
      clearTimeout(waiting.timer);
      waiting.reject(error);
    }
    void worker?.terminate();
  }
}
