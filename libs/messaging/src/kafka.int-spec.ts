// createKafka as the apps use it, from the settings loadConfig reads: SASL/SCRAM over TLS to a
// broker with a private CA that requires a client certificate (as a managed Kafka may). The local
// broker has no TLS, so this test configures a broker of its own on the same jars.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '@dolly/config';
import { CustomKafka, freePortPair } from '@dolly/testing';
import { createKafka, kafkaConnection } from './kafka';

const dolly = { username: 'dolly', password: 'tls-test-password' };
const broker = { username: 'broker', password: 'tls-test-broker-password' };
const TOPIC = 'dolly.tls.check';

const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });

/** A P-256 key and a certificate for `subject`, signed by the CA (or self-signed: the CA). */
function certificate(dir: string, name: string, subject: string, altName?: string): void {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.pem`);
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  if (name === 'ca') {
    openssl([
      'req',
      '-x509',
      ...newKey,
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      subject,
    ]);
    return;
  }
  const request = path.join(dir, `${name}.csr`);
  openssl(['req', ...newKey, '-keyout', key, '-out', request, '-subj', subject]);
  const extensions = path.join(dir, `${name}.ext`);
  fs.writeFileSync(extensions, altName ? `subjectAltName=${altName}\n` : '\n');
  openssl([
    'x509',
    '-req',
    '-in',
    request,
    '-CA',
    path.join(dir, 'ca.pem'),
    '-CAkey',
    path.join(dir, 'ca.key'),
    '-CAcreateserial',
    '-out',
    cert,
    '-days',
    '2',
    '-extfile',
    extensions,
  ]);
}

const plainLogin = (login: typeof broker, accepted: (typeof broker)[]) =>
  `org.apache.kafka.common.security.plain.PlainLoginModule required username="${login.username}" password="${login.password}"${accepted.map((user) => ` user_${user.username}="${user.password}"`).join('')};`;

describe('createKafka with SASL over TLS, as loadConfig reads it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dolly-kafka-tls-'));
  const file = (name: string) => path.join(dir, name);
  let brokers = '';
  let kafka: CustomKafka | undefined;
  const settings = (extra: NodeJS.ProcessEnv) =>
    loadConfig({
      KAFKA_BROKERS: brokers,
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: dolly.username,
      KAFKA_SASL_PASSWORD: dolly.password,
      ...extra,
    });
  const withEverything = {
    KAFKA_SSL_CA_FILE: file('ca.pem'),
    KAFKA_SSL_CERT_FILE: file('client.pem'),
    KAFKA_SSL_KEY_FILE: file('client.key'),
  };
  /** Whether a kafkajs client with these settings gets the cluster's metadata. */
  const connects = async (config: ReturnType<typeof loadConfig>) => {
    const admin = createKafka({
      ...kafkaConnection(config),
      clientId: 'tls-test',
    }).admin();
    try {
      await admin.connect();
      return (await admin.describeCluster()).brokers.length > 0;
    } catch {
      return false;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  };

  beforeAll(async () => {
    certificate(dir, 'ca', '/CN=Dolly test CA');
    certificate(dir, 'server', '/CN=127.0.0.1', 'IP:127.0.0.1');
    certificate(dir, 'client', '/CN=dolly');
    // Kafka reads a PEM key store as the key followed by its certificate.
    fs.writeFileSync(
      file('server-keystore.pem'),
      `${fs.readFileSync(file('server.key'), 'utf8')}${fs.readFileSync(file('server.pem'), 'utf8')}`,
    );
    const port = await freePortPair();
    brokers = `127.0.0.1:${port}`;
    kafka = await CustomKafka.start({
      dir,
      properties: {
        'process.roles': 'broker,controller',
        'node.id': 1,
        'controller.quorum.voters': `1@127.0.0.1:${port + 1}`,
        listeners: `CLIENT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${port + 1}`,
        'advertised.listeners': `CLIENT://127.0.0.1:${port}`,
        'listener.security.protocol.map': 'CLIENT:SASL_SSL,CONTROLLER:SASL_PLAINTEXT',
        'controller.listener.names': 'CONTROLLER',
        'inter.broker.listener.name': 'CLIENT',
        'sasl.enabled.mechanisms': 'SCRAM-SHA-512,PLAIN',
        'listener.name.client.scram-sha-512.sasl.jaas.config':
          'org.apache.kafka.common.security.scram.ScramLoginModule required;',
        'listener.name.client.plain.sasl.jaas.config': plainLogin(broker, [broker]),
        'listener.name.controller.sasl.enabled.mechanisms': 'PLAIN',
        'listener.name.controller.plain.sasl.jaas.config': plainLogin(broker, [broker]),
        'sasl.mechanism.inter.broker.protocol': 'PLAIN',
        'sasl.mechanism.controller.protocol': 'PLAIN',
        'ssl.keystore.type': 'PEM',
        'ssl.keystore.location': file('server-keystore.pem'),
        'ssl.truststore.type': 'PEM',
        'ssl.truststore.location': file('ca.pem'),
        // For a SASL_SSL listener Kafka asks for a client certificate only when told per listener.
        'listener.name.client.ssl.client.auth': 'required',
        'offsets.topic.replication.factor': 1,
        'transaction.state.log.replication.factor': 1,
        'transaction.state.log.min.isr': 1,
        'share.coordinator.state.topic.replication.factor': 1,
        'share.coordinator.state.topic.min.isr': 1,
        'num.partitions': 1,
      },
      scramUsers: [dolly],
      ready: () => connects(settings(withEverything)),
    });
  });

  afterAll(() => {
    kafka?.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('produces and consumes with the CA, the client certificate and its key from files', async () => {
    const client = createKafka({ ...kafkaConnection(settings(withEverything)), clientId: 'tls' });
    const producer = client.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({ topic: TOPIC, acks: -1, messages: [{ key: 'k', value: 'over TLS' }] });
    await producer.disconnect();

    const consumer = client.consumer({ groupId: 'dolly-tls-check', maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topics: [TOPIC], fromBeginning: true });
    const value = await new Promise<string>((resolve) => {
      void consumer.run({ eachMessage: async ({ message }) => resolve(String(message.value)) });
    });
    await consumer.disconnect();
    expect(value).toBe('over TLS');
  });

  it('trusts only the CA it is given: with the system CAs the broker is refused', async () => {
    expect(
      await connects(
        settings({
          KAFKA_SSL: 'true',
          KAFKA_SSL_CERT_FILE: withEverything.KAFKA_SSL_CERT_FILE,
          KAFKA_SSL_KEY_FILE: withEverything.KAFKA_SSL_KEY_FILE,
        }),
      ),
    ).toBe(false);
  });

  it('presents the client certificate: without it the broker refuses the client', async () => {
    expect(await connects(settings({ KAFKA_SSL_CA_FILE: withEverything.KAFKA_SSL_CA_FILE }))).toBe(
      false,
    );
  });

  it('speaks TLS only when told: over plaintext the broker is not reached', async () => {
    expect(await connects(settings({}))).toBe(false);
  });
});
