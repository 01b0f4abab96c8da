/**
 * A throwaway PostgreSQL server for tests: `initdb` in a temporary directory, `postgres` on a
 * free port of 127.0.0.1, trust authentication, fsync off (tests are not about PostgreSQL's own
 * durability). Run as the `postgres` user when this process is root (PostgreSQL refuses root).
 * `SETPOINT_TEST_POSTGRES_URL`, when set, is used instead and nothing is started.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { chmod, chown, mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A PostgreSQL server started for tests. */
export interface TestPostgres {
  /** A connection string for the `postgres` database as the `postgres` superuser. */
  readonly url: string;
  /** Stops the server (fast shutdown) and keeps its data: `startServer()` brings it back on the same port. */
  stopServer(): Promise<void>;
  /** Starts a stopped server again. */
  startServer(): Promise<void>;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
}

/** Where PostgreSQL's programs are: on PATH, or in Debian's versioned directory. */
function binary(name: string): string {
  for (const dir of (process.env.PATH ?? "").split(":"))
    if (dir !== "" && existsSync(join(dir, name))) return join(dir, name);
  const debian = "/usr/lib/postgresql";
  if (existsSync(debian)) {
    for (const version of readdirSync(debian).sort().reverse()) {
      const candidate = join(debian, version, "bin", name);
      if (existsSync(candidate)) return candidate;
    }
  }
  throw new Error(
    `PostgreSQL's ${name} was not found (install PostgreSQL, e.g. apt-get install -y postgresql, or set SETPOINT_TEST_POSTGRES_URL)`,
  );
}

/** Whether PostgreSQL's programs are installed here. */
export function postgresAvailable(): boolean {
  if (process.env.SETPOINT_TEST_POSTGRES_URL) return true;
  try {
    binary("initdb");
    binary("postgres");
    return true;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Runs `program` as the postgres user when root. */
function asPostgres(program: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0
    ? ["runuser", ["-u", "postgres", "--", program, ...args]]
    : [program, args];
}

/**
 * Starts a throwaway PostgreSQL server (under a second on a warm machine).
 *
 * @example
 * ```ts
 * const pg = await startTestPostgres();
 * const plane = createControlPlane({ backend: await connectPostgres({ postgres: pg.url }) });
 * // …
 * await pg.stop();
 * ```
 */
export async function startTestPostgres(): Promise<TestPostgres> {
  const given = process.env.SETPOINT_TEST_POSTGRES_URL;
  if (given) {
    const noop = async () => {};
    return { url: given, stopServer: noop, startServer: noop, stop: noop };
  }
  const dir = await mkdtemp(join(tmpdir(), "setpoint-pg-"));
  const data = join(dir, "data");
  if (process.getuid?.() === 0) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    await chown(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  await chmod(dir, 0o700);
  const [initdb, initArgs] = asPostgres(binary("initdb"), [
    "-D",
    data,
    "-A",
    "trust",
    "-U",
    "postgres",
    "-E",
    "UTF8",
    "--locale=C",
    "--no-sync",
  ]);
  await run(initdb, initArgs);
  const port = await freePort();
  let server: ChildProcess | undefined;

  const startServer = async () => {
    const [postgres, args] = asPostgres(binary("postgres"), [
      "-D",
      data,
      "-p",
      String(port),
      "-k",
      dir,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "fsync=off",
      "-c",
      "max_connections=300",
    ]);
    const child = spawn(postgres, args, { stdio: ["ignore", "ignore", "pipe"] });
    server = child;
    let log = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`PostgreSQL did not start in 30 s:\n${log}`)),
        30_000,
      );
      child.stderr!.on("data", (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes("ready to accept connections")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`PostgreSQL exited with ${code} while starting:\n${log}`));
      });
    });
    child.stderr!.resume();
  };
  const stopServer = async () => {
    const child = server;
    server = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    // SIGINT is PostgreSQL's fast shutdown: clients are disconnected at once. Signal the
    // postmaster itself (the child may be runuser, which need not pass signals on).
    const pid = Number((await readFile(join(data, "postmaster.pid"), "utf8")).split("\n")[0]);
    process.kill(pid, "SIGINT");
    await exited;
  };
  await startServer();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stopServer,
    startServer,
    stop: async () => {
      await stopServer();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
