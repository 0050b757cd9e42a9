import 'tsconfig-paths/register';

/** Stops what the global setup started (a broker found running is left running). */
export default async function globalTeardown(): Promise<void> {
  const services = globalThis.dollyTestServices;
  globalThis.dollyTestServices = undefined;
  await services?.stop();
}
