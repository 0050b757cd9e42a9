import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICE_NODE_FLAGS, loadConfig } from '@dolly/config';
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

const kafkaEnv = Object.fromEntries(
  Object.entries(compose.services.kafka.environment ?? {}).map(([name, value]) => [
    name,
    String(value),
  ]),
);
/** `${NAME:?message}` as Docker Compose substitutes it, given NAME. */
const substitute = (value: unknown, values: Record<string, string>) =>
  String(value).replace(/\$\{(\w+):\?[^}]*\}/g, (_, name: string) => values[name]);

/** Docker is not on our machines, so this keeps docker-compose.yml in step with what npm start runs. */
describe('docker-compose.yml', () => {
  it('runs the same Kafka release as the local broker', () => {
    expect(compose.services.kafka.image).toBe(`apache/kafka:${KAFKA_VERSION}`);
    expect(compose.services['kafka-setup'].image).toBe(`apache/kafka:${KAFKA_VERSION}`);
  });

  it.each(['api', 'projector', 'worker'])(
    'runs the built %s with the settings the apps read',
    (app) => {
      const service = compose.services[app];
      expect(service.command).toEqual([
        'node',
        ...SERVICE_NODE_FLAGS,
        `dist/apps/${app}/src/main.js`,
      ]);
      expect(Object.keys(service.environment ?? {})).toEqual(
        expect.arrayContaining([
          'DATABASE_URL',
          'KAFKA_BROKERS',
          'KAFKA_SASL_MECHANISM',
          'KAFKA_SASL_USERNAME',
          'KAFKA_SASL_PASSWORD',
          'DOLLY_API_TOKENS',
        ]),
      );
      expect(readFileSync(join(root, 'apps', app, 'src', 'main.ts'), 'utf8')).toContain(
        'runService',
      );
    },
  );

  it('and the Dockerfile runs its default app with the services’ node flags', () => {
    const cmd = /^CMD (\[.*\])$/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'))?.[1];
    expect(JSON.parse(cmd ?? 'null')).toEqual([
      'node',
      ...SERVICE_NODE_FLAGS,
      'dist/apps/api/src/main.js',
    ]);
  });

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

describe('Kafka in docker-compose.yml', () => {
  it.each(['api', 'projector', 'worker'])(
    'logs the %s in to Kafka as Dolly’s principal, with a password from the environment',
    (app) => {
      const environment = compose.services[app].environment ?? {};
      expect(environment.KAFKA_SASL_PASSWORD).toMatch(/^\$\{DOLLY_KAFKA_PASSWORD:\?.+\}$/);
      const config = loadConfig(
        Object.fromEntries(
          Object.entries(environment).map(([name, value]) => [
            name,
            substitute(value, { DOLLY_KAFKA_PASSWORD: 'p', DOLLY_ADMIN_TOKEN: 't' }),
          ]),
        ),
      );
      expect(config.kafkaSasl).toEqual({
        mechanism: 'scram-sha-512',
        username: 'dolly',
        password: 'p',
      });
      // Its SCRAM user and ACLs exist before it starts.
      expect(compose.services[app].depends_on?.['kafka-setup']).toEqual({
        condition: 'service_completed_successfully',
      });
    },
  );

  it('has Kafka answer only clients that log in, on every listener', () => {
    const protocols = new Map(
      kafkaEnv.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP.split(',').map(
        (entry) => entry.split(':') as [string, string],
      ),
    );
    const listeners = kafkaEnv.KAFKA_LISTENERS.split(',').map((listener) =>
      listener.replace(/:\/\/.*$/, ''),
    );

    expect(listeners.map((name) => [name, protocols.get(name)])).toEqual(
      listeners.map((name) => [name, expect.stringMatching(/^SASL_/)]),
    );
  });

  it('has Kafka decide with its own ACLs, the broker being the only super user', () => {
    expect(kafkaEnv).toMatchObject({
      KAFKA_AUTHORIZER_CLASS_NAME: 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
      KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND: 'false',
      KAFKA_SUPER_USERS: 'User:broker',
    });
  });

  it('gives the image no KAFKA_ value it would drop (it skips values that contain "=")', () => {
    const dropped = Object.entries(kafkaEnv).filter(
      ([name, value]) => name.startsWith('KAFKA_') && name !== 'KAFKA_OPTS' && value.includes('='),
    );
    expect(dropped).toEqual([]);
  });

  it('makes the SCRAM users and ACLs with scripts it mounts, from passwords in the environment', () => {
    for (const service of ['kafka', 'kafka-setup']) {
      expect(compose.services[service].volumes).toContain('./tools/compose/kafka:/dolly:ro');
      const script = compose.services[service].command?.[1] ?? '';
      expect(
        existsSync(join(root, 'tools', 'compose', 'kafka', script.replace('/dolly/', ''))),
      ).toBe(true);
    }
    expect(Object.keys(compose.services['kafka-setup'].environment ?? {}).sort()).toEqual([
      'DOLLY_KAFKA_BROKER_PASSWORD',
      'DOLLY_KAFKA_INTEGRATOR_PASSWORD',
      'DOLLY_KAFKA_PASSWORD',
    ]);
    expect(compose.services['kafka-setup'].depends_on?.kafka).toEqual({
      condition: 'service_healthy',
    });
  });
});
