import { runBackendConformance } from "../../testing/conformance.js";
import { MemoryBackend } from "./memory-backend.js";

runBackendConformance("memory", () => new MemoryBackend(), {
  compact: (backend) => (backend as MemoryBackend).compact(),
});
