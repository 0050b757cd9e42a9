/**
 * `npm start`: runs the whole of Dolly locally. Finds or starts PostgreSQL and Kafka, makes Dolly's
 * roles and database and migrates it as the owner (once, before any app), makes Dolly's Kafka
 * topics and waits until the broker serves them, then runs the api, projector and worker from the
 * build, each as its own database role, prints where to find them, and on Ctrl-C stops every process it started (the broker and the database too, if it started them).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SERVICE_NODE_FLAGS, loadConfig } from '../../libs/config/src';
import { createKafka, kafkaConnection, prepareKafka } from '../../libs/messaging/src';
import { prepareDatabase, redact } from '../../libs/persistence/src';
import {
  LOCAL_DIR,
  LOCAL_TOKENS_FILE,
  REPO_ROOT,
  ensureLocalTokens,
  ensureServices,
} from './services';

const APPS = ['api', 'projector', 'worker'] as const;
type App = (typeof APPS)[number];

const say = (line: string) => console.log(`[dolly] ${line}`);

function startApp(app: App, env: NodeJS.ProcessEnv, logsDir: string): ChildProcess {
  const main = join(REPO_ROOT, 'dist', 'apps', app, 'src', 'main.js');
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, main], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const file = createWriteStream(join(logsDir, `${app}.log`), { flags: 'a' });
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.pipe(file, { end: false });
    // The full JSON log goes to the file; the terminal shows warnings and errors as they happen.
    createInterface({ input: stream }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { level?: string; message?: string };
        if (entry.level && !['info', 'debug', 'trace'].includes(entry.level))
          say(`${app} ${entry.level}: ${entry.message ?? line}`);
      } catch {
        say(`${app}: ${line}`);
      }
    });
  }
  return child;
}

/** Until every app answers its liveness probe: "running" means all of them, not the API alone. */
async function waitUntilLive(
  urls: Record<App, string>,
  children: Map<App, ChildProcess>,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  const waiting = new Set(children.keys());
  while (Date.now() < deadline) {
    for (const [app, child] of children) {
      if (child.exitCode !== null)
        throw new Error(
          `dolly-${app} exited with code ${child.exitCode}; see .local/logs/${app}.log`,
        );
    }
    for (const app of [...waiting]) {
      try {
        if ((await fetch(`${urls[app]}/health/live`)).ok) waiting.delete(app);
      } catch {
        // Not listening yet.
      }
    }
    if (waiting.size === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const late = [...waiting];
  const apps = late.map((app) => `dolly-${app} (${urls[app]})`).join(', ');
  const logs = late.map((app) => `.local/logs/${app}.log`).join(', ');
  throw new Error(`${apps} did not answer within a minute; see ${logs}`);
}

async function main(): Promise<void> {
  const services = await ensureServices(say);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: services.databaseUrl,
    ...services.kafkaEnv,
  };
  if (!env.DOLLY_API_TOKENS && !env.DOLLY_API_TOKENS_FILE)
    env.DOLLY_API_TOKENS_FILE = ensureLocalTokens();
  // Datastores may be registered only inside the roots; the local worker makes their folders.
  if (!env.DOLLY_DATASTORE_ROOTS) {
    env.DOLLY_DATASTORE_ROOTS = join(LOCAL_DIR, 'datastores');
    mkdirSync(env.DOLLY_DATASTORE_ROOTS, { recursive: true });
  }
  const config = loadConfig(env);
  const logsDir = join(LOCAL_DIR, 'logs');
  mkdirSync(logsDir, { recursive: true });
  const database = await prepareDatabase(config, say).catch(async (error: unknown) => {
    await services.stop();
    throw error;
  });
  // Dolly's topics made, and the broker past its first seconds (leaders elected, coordinators
  // loaded), before any app connects: the apps then start without a single retried request.
  say('Preparing Kafka (topics, leaders, coordinators)');
  await prepareKafka(
    createKafka({ ...kafkaConnection(config), clientId: 'dolly-launcher' }),
    config.kafkaPrefix,
  ).catch(async (error: unknown) => {
    await services.stop();
    throw error;
  });

  const children = new Map<App, ChildProcess>(
    APPS.map((app) => [
      app,
      startApp(app, { ...env, DATABASE_URL: database.appUrls[app] }, logsDir),
    ]),
  );
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping');
    await Promise.all(
      [...children.values()].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
            child.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
    await services.stop();
    say('stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  for (const [app, child] of children) {
    child.on('exit', (code) => {
      if (!stopping) {
        say(`dolly-${app} exited (code ${code}); stopping the rest. See .local/logs/${app}.log`);
        void stop(1);
      }
    });
  }

  const apiUrl = `http://127.0.0.1:${config.apiPort}`;
  await waitUntilLive(
    {
      api: apiUrl,
      projector: `http://127.0.0.1:${config.projectorPort}`,
      worker: `http://127.0.0.1:${config.workerPort}`,
    },
    children,
  );
  say(`Dolly is running.`);
  say(`  API:       ${apiUrl}`);
  say(
    `  Docs:      ${apiUrl}/docs   (OpenAPI: ${apiUrl}/openapi.json, AsyncAPI: ${apiUrl}/asyncapi.json)`,
  );
  say(`  Kafka:     ${services.kafkaBrokers}${services.started.kafka ? ' (started for you)' : ''}`);
  if (services.kafkaCredentialsFile)
    say(`  Kafka principals: ${services.kafkaCredentialsFile} (dolly; integrator: read-only)`);
  say(`  Database:  ${redact(database.appUrls.api)} (each app as its own role)`);
  if (env.DOLLY_API_TOKENS_FILE === LOCAL_TOKENS_FILE)
    say(`  Tokens:    ${LOCAL_TOKENS_FILE} (one per role)`);
  say(`  Logs:      ${logsDir}`);
  say(
    `  Datastores: register folders inside ${env.DOLLY_DATASTORE_ROOTS} (the local worker makes them)`,
  );
  say(`  Try:       npm run dolly -- hosts list`);
  say('Ctrl-C stops everything started here.');
}

main().catch((error: unknown) => {
  console.error(`[dolly] ${(error as Error).message}`);
  process.exit(1);
});
