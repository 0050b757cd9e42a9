import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '@dolly/config';
import { parse } from 'yaml';
import { KAFKA_VERSION } from '../kafka/local-kafka';

interface ComposeService {
  image?: string;
  command?: string[];
  environment?: Record<string, unknown>;
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
}

const root = join(__dirname, '..', '..');
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};
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
      expect(service.command).toEqual(['node', `dist/apps/${app}/src/main.js`]);
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
