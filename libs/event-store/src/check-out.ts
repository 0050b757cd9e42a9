import type { Pool, PoolClient } from 'pg';

/**
 * A client checked out of the pool, heard while it is out. PostgreSQL ending the session (a
 * restart or shutdown: 57P01; a dropped connection) while no query runs on it emits 'error' on
 * the client, and pg-pool listens only while a client is idle: unheard, that error ends the
 * process. Heard here, the next query on the client fails as any query would, and the release
 * hands the pool the error, so that it drops the connection instead of reusing it.
 */
export async function checkOut(pool: Pool): Promise<PoolClient> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const heard = (error: Error) => (broken ??= error);
  client.on('error', heard);
  // pg-pool gives each check-out a release of its own: this one lasts until it is called.
  const release = client.release;
  client.release = (error?: Error | boolean) => {
    client.removeListener('error', heard);
    release.call(client, error ?? broken);
  };
  return client;
}
