/**
 * How long a server stops answering while it works: `whileProbing` asks it something cheap
 * (`/version`) again and again while `work` runs.
 */

/**
 * Runs `work` while calling `probe` again and again; resolves with what `work` gave and the
 * longest `probe` took: a bound on how long the server stopped answering.
 */
export async function whileProbing<T>(
  work: Promise<T>,
  probe: () => Promise<unknown>,
): Promise<{ result: T; slowestMs: number }> {
  let done = false;
  let slowestMs = 0;
  const probing = (async () => {
    while (!done) {
      const started = performance.now();
      await probe();
      slowestMs = Math.max(slowestMs, performance.now() - started);
    }
  })();
  try {
    await work;
  } finally {
    done = true;
    // The probe in flight when the work ended counts too: it may have waited through all of it.
    await probing;
  }
  return { result: await work, slowestMs };
}
