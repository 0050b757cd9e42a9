import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { KAFKA_VERSION } from '../kafka/local-kafka';

const root = join(__dirname, '..', '..');
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<
    string,
    {
      image?: string;
      command?: string[];
      environment?: Record<string, unknown>;
      volumes?: string[];
    }
  >;
};

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
