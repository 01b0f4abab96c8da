/** The kubeconfig that points kubectl and client libraries at a served API. */

/** A kubeconfig for a server at `url`. */
export function kubeconfigFor(url: string, token?: string): string {
  const lines = [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: setpoint",
    "  cluster:",
    `    server: ${url}`,
    // Needed for TLS with the self-signed certificates serve is usually given, and by
    // @kubernetes/client-node for any http:// server.
    "    insecure-skip-tls-verify: true",
    "users:",
    "- name: setpoint",
    `  user: ${token === undefined ? "{}" : `{token: ${JSON.stringify(token)}}`}`,
    "contexts:",
    "- name: setpoint",
    "  context:",
    "    cluster: setpoint",
    "    user: setpoint",
    "    namespace: default",
    "current-context: setpoint",
    "",
  ];
  return lines.join("\n");
}
