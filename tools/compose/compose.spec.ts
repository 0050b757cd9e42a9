import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { KAFKA_VERSION } from '../kafka/local-kafka';
import {
  APP_LOGIN_ROLES,
  APP_ROLES,
  DOLLY_APPS,
  OWNER_ROLE,
} from '../../libs/persistence/src/roles';

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, unknown>;
  ports?: string[];
  volumes?: string[];
  restart?: string;
  depends_on?: Record<string, { condition: string }>;
}

const root = join(__dirname, '..', '..');
const composeText = readFileSync(join(root, 'docker-compose.yml'), 'utf8');
const compose = parse(composeText, { merge: true }) as { services: Record<string, Service> };
const initScript = readFileSync(join(__dirname, 'postgres-init', '10-dolly-roles.sh'), 'utf8');

/** A compose value that must be given: `${NAME:?why}`, never a default. */
const required = (name: string) => new RegExp(`\\$\\{${name}:\\?[^}]+\\}`);

/** The user and the password variable of a postgres:// URL whose password comes from the environment. */
function credentials(url: unknown): { user: string; password: string } {
  const match = /^postgres:\/\/([^:@/]+):\$\{([A-Z_]+):\?[^}]+\}@postgres:5432\/dolly$/.exec(
    String(url),
  );
  if (!match) throw new Error(`${String(url)} is not a role with a required password`);
  return { user: match[1], password: match[2] };
}

/** Docker is not on our machines, so this keeps docker-compose.yml in step with what npm start runs. */
describe('docker-compose.yml', () => {
  it('runs the same Kafka release as the local broker', () => {
    expect(compose.services.kafka.image).toBe(`apache/kafka:${KAFKA_VERSION}`);
  });

  it.each(['api', 'projector', 'worker'])(
    'runs the built %s with the settings the apps read',
    (app) => {
      const service = compose.services[app];
      expect(service.command).toEqual(['node', `dist/apps/${app}/src/main.js`]);
      expect(Object.keys(service.environment ?? {})).toEqual(
        expect.arrayContaining(['DATABASE_URL', 'KAFKA_BROKERS', 'DOLLY_API_TOKENS']),
      );
      expect(readFileSync(join(root, 'apps', app, 'src', 'main.ts'), 'utf8')).toContain(
        'runService',
      );
    },
  );

  it('gives the API and the worker the same datastore roots, mounted where they say', () => {
    for (const app of ['api', 'worker']) {
      const service = compose.services[app];
      const roots = String(service.environment?.DOLLY_DATASTORE_ROOTS ?? '');
      expect([app, roots]).toEqual([app, '/srv/dolly']);
      expect(service.volumes?.some((volume) => volume.split(':')[1] === roots)).toBe(true);
    }
  });
});

describe('PostgreSQL in docker-compose.yml', () => {
  const postgres = compose.services.postgres;

  it('is reachable only from the compose network, with SCRAM passwords', () => {
    expect(postgres.ports ?? []).toEqual(
      (postgres.ports ?? []).filter((port) => port.startsWith('127.0.0.1:')),
    );
    expect(postgres.environment?.POSTGRES_HOST_AUTH_METHOD).toBe('scram-sha-256');
    expect(String(postgres.environment?.POSTGRES_PASSWORD)).toMatch(
      required('DOLLY_POSTGRES_PASSWORD'),
    );
    expect(composeText).not.toMatch(/\btrust\b/);
  });

  it("makes every one of Dolly's roles once, at init, with passwords from the environment", () => {
    expect(postgres.volumes).toContain(
      './tools/compose/postgres-init:/docker-entrypoint-initdb.d:ro',
    );
    const created = [...initScript.matchAll(/^CREATE ROLE (\w+) (.*);$/gm)].map(
      ([, name, options]) => ({ name, options }),
    );
    expect(created.map((role) => role.name).sort()).toEqual(
      [OWNER_ROLE, ...Object.values(APP_ROLES), ...Object.values(APP_LOGIN_ROLES)].sort(),
    );
    for (const app of DOLLY_APPS) {
      expect(created).toContainEqual({ name: APP_ROLES[app], options: 'NOLOGIN' });
      expect(created).toContainEqual({
        name: APP_LOGIN_ROLES[app],
        options: `LOGIN PASSWORD :'${app}_password' IN ROLE ${APP_ROLES[app]}`,
      });
      expect(initScript).toContain(`-v ${app}_password="$DOLLY_${app.toUpperCase()}_DB_PASSWORD"`);
    }
    expect(created).toContainEqual({
      name: OWNER_ROLE,
      options: "LOGIN PASSWORD :'owner_password'",
    });
    expect(initScript).toContain(`CREATE DATABASE dolly OWNER ${OWNER_ROLE};`);
    for (const variable of ['OWNER', ...DOLLY_APPS.map((app) => app.toUpperCase())])
      expect(String(postgres.environment?.[`DOLLY_${variable}_DB_PASSWORD`])).toMatch(
        required(`DOLLY_${variable}_DB_PASSWORD`),
      );
  });

  it('is migrated once, as the owner, by a one-shot service', () => {
    const migrate = compose.services.migrate;
    expect(migrate.command).toEqual(['node', 'dist/libs/persistence/src/migrate.js']);
    expect(existsSync(join(root, 'libs', 'persistence', 'src', 'migrate.ts'))).toBe(true);
    expect(migrate.restart).toBe('no');
    expect(migrate.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    expect(credentials(migrate.environment?.DATABASE_MIGRATION_URL)).toEqual({
      user: OWNER_ROLE,
      password: 'DOLLY_OWNER_DB_PASSWORD',
    });
  });

  it.each(DOLLY_APPS)('runs the %s as its own role, once migrated', (app) => {
    const service = compose.services[app];
    expect(service.depends_on?.migrate).toEqual({ condition: 'service_completed_successfully' });
    expect(service.depends_on?.postgres).toBeUndefined();
    expect(credentials(service.environment?.DATABASE_URL)).toEqual({
      user: APP_LOGIN_ROLES[app],
      password: `DOLLY_${app.toUpperCase()}_DB_PASSWORD`,
    });
  });
});
