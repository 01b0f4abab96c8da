/**
 * The health and metrics server of a Manager: `/metrics` (Prometheus text from its prom-client
 * registry), `/healthz` (the process is alive and its loops tick) and `/readyz` (caches synced;
 * a leader-election standby is ready too). Each answers 200 or 503 with a line per check, as
 * controller-runtime's probes do (`?verbose` is accepted and changes nothing).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

/** One named check and what it found. */
export interface HealthCheck {
  readonly name: string;
  readonly ok: boolean;
  /** Why it is not ok. */
  readonly detail?: string;
}

/** What the server asks of its Manager. */
export interface HealthSource {
  readonly registry: Registry;
  healthChecks(): HealthCheck[];
  readinessChecks(): HealthCheck[];
}

/** A running health server. */
export interface HealthServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

function report(checks: HealthCheck[]): { code: number; body: string } {
  const ok = checks.every((check) => check.ok);
  const lines = checks.map((check) =>
    check.ok ? `[+]${check.name} ok` : `[-]${check.name} failed: ${check.detail ?? "not ok"}`,
  );
  return {
    code: ok ? 200 : 503,
    body: `${lines.join("\n")}${lines.length ? "\n" : ""}${ok ? "ok" : "failed"}\n`,
  };
}

/**
 * Serves `source`'s metrics and probes on `port` (0: any free port) of `host`.
 *
 * @example
 * ```ts
 * const health = await serveHealth(manager, { port: 8081 });
 * // curl http://127.0.0.1:8081/readyz
 * ```
 */
export async function serveHealth(
  source: HealthSource,
  options: { readonly port?: number; readonly host?: string } = {},
): Promise<HealthServer> {
  const host = options.host ?? "127.0.0.1";
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    void (async () => {
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD" }).end();
        return;
      }
      if (path === "/metrics") {
        const text = await source.registry.metrics();
        res.writeHead(200, { "content-type": source.registry.contentType }).end(text);
        return;
      }
      if (path === "/healthz" || path === "/livez" || path === "/readyz") {
        const { code, body } = report(
          path === "/readyz" ? source.readinessChecks() : source.healthChecks(),
        );
        res.writeHead(code, { "content-type": "text/plain; charset=utf-8" }).end(body);
        return;
      }
      res
        .writeHead(404, { "content-type": "text/plain" })
        .end("not found: try /metrics, /healthz, /readyz\n");
    })().catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(`${(error as Error).message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
