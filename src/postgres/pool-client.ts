/** A client checked out of a `pg` Pool, heard from the moment it is handed out. */
import type { Pool, PoolClient } from "pg";

/**
 * Runs `body` with a client of `pool` to itself, then gives it back. pg emits `error` on a
 * client whose connection dies while it is checked out (a restart of the server, a terminated
 * backend): unheard, that event would end the process. It is heard here from the moment the
 * client is handed out — in pg-pool's callback, not after an `await`: the server's message ending
 * a fresh connection can come in the same read as the one completing it, and be emitted before
 * any awaiting code runs. The query in flight (or the next) fails with an error of its own, which
 * the caller gets; the client is discarded rather than returned to the pool, which opens a new
 * connection when next asked for one: that is the reconnect.
 */
export async function withPoolClient<T>(
  pool: Pool,
  body: (client: PoolClient) => Promise<T>,
): Promise<T> {
  let lost: Error | undefined;
  const onError = (error: Error) => {
    lost = error;
  };
  const client = await new Promise<PoolClient>((resolve, reject) => {
    pool.connect((error, client) => {
      if (error !== undefined && error !== null) return reject(error);
      client!.on("error", onError);
      resolve(client!);
    });
  });
  try {
    return await body(client);
  } finally {
    client.off("error", onError);
    client.release(lost);
  }
}
