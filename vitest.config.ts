import { defineConfig } from "vitest/config";

export default defineConfig({
  // Import `setpoint` from its sources, as examples and users' tests in this repository do.
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["test/support/postgres-setup.ts"],
    testTimeout: 20_000,
  },
});
