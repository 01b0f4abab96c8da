/**
 * The demo behind `npm start`: an in-memory control plane holding `Greeting` objects, and a
 * small watch-driven loop that keeps each one's `status.message` in step with its spec — list,
 * then watch from the list's revision, write status only when it differs. Every few seconds the
 * demo edits a greeting, as a user would, and the loop catches up. Ctrl-C stops it cleanly.
 *
 * (setpoint's controller runtime — work queue, retries, finalizers — is being built; this loop
 * shows the store underneath it: revisions, watches, the status subresource, generations.)
 */
import { pathToFileURL } from "node:url";
import { createControlPlane, defineKind, type ResourceOf } from "setpoint";
import { z } from "zod";

export const Greeting = defineKind({
  group: "demo.setpoint.dev",
  version: "v1",
  kind: "Greeting",
  scope: "Namespaced",
  spec: z.object({ name: z.string().min(1), excited: z.boolean().default(false) }),
  status: z.object({ message: z.string(), observedGeneration: z.number().int() }).partial(),
  printerColumns: [{ name: "Message", type: "string", jsonPath: ".status.message" }],
});

type GreetingObject = ResourceOf<typeof Greeting>;

const manifests = [
  { metadata: { name: "world", labels: { audience: "everyone" } }, spec: { name: "World" } },
  {
    metadata: { name: "team", labels: { audience: "colleagues" } },
    spec: { name: "Team", excited: true },
  },
  { metadata: { name: "kube", labels: { audience: "operators" } }, spec: { name: "Kubernetes" } },
];

function messageOf(greeting: GreetingObject): string {
  return `Hello, ${greeting.spec.name}${greeting.spec.excited ? "!" : "."}`;
}

export interface DemoOptions {
  readonly signal: AbortSignal;
  readonly log?: (line: string) => void;
  /** How often the demo edits a greeting, as a user would. @default 5_000 */
  readonly editEveryMs?: number;
}

/** Runs the demo until `signal` aborts; returns the plane's greetings as they ended. */
export async function runDemo(options: DemoOptions): Promise<readonly GreetingObject[]> {
  const { signal, log = console.log, editEveryMs = 5_000 } = options;
  const plane = createControlPlane();
  const greetings = plane.resources(Greeting, { namespace: "demo" });

  for (const manifest of manifests) await greetings.create(manifest);
  log(`applied ${manifests.length} greetings to an in-memory control plane`);

  // The loop: list, then watch from the list's revision so that no change is missed.
  const reconcile = async (greeting: GreetingObject) => {
    const message = messageOf(greeting);
    const { status } = greeting;
    if (status?.message === message && status.observedGeneration === greeting.metadata.generation)
      return;
    const written = await greetings.updateStatus({
      ...greeting,
      status: { message, observedGeneration: greeting.metadata.generation },
    });
    log(
      `  ${greeting.metadata.name}: status.message = "${message}" (generation ${greeting.metadata.generation}, revision ${written.metadata.resourceVersion})`,
    );
  };
  const initial = await greetings.list();
  for (const greeting of initial.items) await reconcile(greeting);
  const loop = (async () => {
    for await (const event of greetings.watch({
      resourceVersion: initial.resourceVersion,
      signal,
    })) {
      if (event.type === "BOOKMARK") continue;
      if (event.type === "DELETED") {
        log(`  ${event.object.metadata.name}: deleted`);
        continue;
      }
      // Status writes come back as MODIFIED events too; reconcile() finds nothing to do then.
      await reconcile(await greetings.get(event.object.metadata.name).catch(() => event.object));
    }
  })();

  // Edit a greeting now and then, as a user would.
  let edits = 0;
  let lastEdit: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    const names = ["Ada", "Grace", "Linus", "Barbara", "Ken"];
    const target = manifests[edits % manifests.length]!.metadata.name;
    const name = names[edits++ % names.length]!;
    log(`user: greet ${name} in "${target}"`);
    lastEdit = greetings
      .patch(target, { type: "merge", patch: { spec: { name } } })
      .catch((err) => log(`edit failed: ${err}`));
  }, editEveryMs);

  await new Promise<void>((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true }),
  );
  clearInterval(timer);
  await loop;
  // Settle an edit that raced the stop, so that what the demo returns is in step.
  await lastEdit;
  for (const greeting of (await greetings.list()).items) await reconcile(greeting);
  const final = (await greetings.list()).items;
  await plane.close();
  return final;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  process.once("SIGTERM", () => stop.abort());
  console.log("setpoint demo — Ctrl-C to stop");
  const final = await runDemo({ signal: stop.signal });
  console.log(`\nstopped; ${final.length} greetings:`);
  for (const g of final) console.log(`  ${g.metadata.name}: ${g.status?.message}`);
}
