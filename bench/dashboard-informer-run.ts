/**
 * The @kubernetes/client-node informer of the dashboard benchmark, in a process of its own (so
 * that its CPU is not the server's): lists and watches the bench kind at <url>, prints `ready`
 * once listed, then `seen` when item-00000's `spec.seq` reaches <marker> (the burst's last
 * change), and exits on `exit` from standard input.
 *   dashboard-informer-run.ts <url> <marker>
 */
import { createInterface } from "node:readline";
import { CustomObjectsApi, KubeConfig, makeInformer } from "@kubernetes/client-node";
import { kubeconfigFor } from "../src/kubernetes/index.js";

const [url = "", marker = ""] = process.argv.slice(2);
const kc = new KubeConfig();
kc.loadFromString(kubeconfigFor(url));
const api = kc.makeApiClient(CustomObjectsApi);
const informer = makeInformer(kc, "/apis/bench.setpoint.dev/v1/items", () =>
  api.listClusterCustomObject({ group: "bench.setpoint.dev", version: "v1", plural: "items" }),
);
let seen = false;
informer.on("update", (object) => {
  const item = object as { metadata?: { name?: string }; spec?: { seq?: number } };
  if (!seen && item.metadata?.name === "item-00000" && String(item.spec?.seq) === marker) {
    seen = true;
    console.log("seen");
  }
});
await informer.start();
console.log("ready");
for await (const line of createInterface({ input: process.stdin })) if (line === "exit") break;
await informer.stop();
process.exit(0);
