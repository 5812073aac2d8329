/**
 * Vitest global setup: one embedded PostgreSQL for the whole run, shared by
 * every test file through THINGIQ_TEST_PG_URL (each file gets fresh
 * databases), instead of one cluster started per file inside the workers.
 * An external THINGIQ_TEST_PG_URL is used as is.
 */
import { startEmbedded, type TestPostgres } from './postgres.ts';

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.THINGIQ_TEST_PG_URL) return undefined;
  let server: TestPostgres;
  try {
    server = await startEmbedded();
  } catch (err) {
    // Under CI=true each file's own start fails loudly (startTestPostgres); locally they may skip.
    console.warn(`shared embedded PostgreSQL did not start (${(err as Error).message}); test files start their own`);
    return undefined;
  }
  const url = new URL(server.url);
  url.pathname = '/postgres';
  process.env.THINGIQ_TEST_PG_URL = url.toString();
  return async () => {
    delete process.env.THINGIQ_TEST_PG_URL;
    await server.close();
  };
}
