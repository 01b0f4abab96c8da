/**
 * One writing process of the PostgreSQL benchmark: `<url> <schema> <prefix> <count> <writers>`.
 * Connects, prints `ready`, waits for a line on stdin, then creates `count` objects with
 * `writers` concurrent writers and prints `{"ms": …}`.
 */
import { createInterface } from "node:readline";
import { connectPostgres } from "../src/postgres/index.js";
import { BenchWidget, benchWidget } from "./objects.js";
import { concurrently } from "./postgres.bench.js";

const [url = "", schema = "", prefix = "w", countText = "1000", writersText = "64"] =
  process.argv.slice(2);
const backend = await connectPostgres({ postgres: url, schema });
console.log("ready");
const input = createInterface({ input: process.stdin });
await new Promise((resolve) => input.once("line", resolve));
input.close();
const ms = await concurrently(Number(countText), Number(writersText), (i) =>
  backend.create(BenchWidget, benchWidget(i, prefix)),
);
console.log(JSON.stringify({ ms }));
await backend.close();
