import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from './config';

describe('Kafka authentication and TLS settings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dolly-config-spec-'));
  const file = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const brokers = { KAFKA_BROKERS: 'kafka-1:9092,kafka-2:9092' };

  it('connects without SASL or TLS when none is set', () => {
    const config = loadConfig(brokers);

    expect(config.kafkaSasl).toBeUndefined();
    expect(config.kafkaTls).toBeUndefined();
  });

  it('reads the SASL mechanism (any case), user name and password', () => {
    const config = loadConfig({
      ...brokers,
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: 'dolly',
      KAFKA_SASL_PASSWORD: 's3cret',
    });

    expect(config.kafkaSasl).toEqual({
      mechanism: 'scram-sha-512',
      username: 'dolly',
      password: 's3cret',
    });
  });

  it('reads the user name and password from files, without the final newline', () => {
    const config = loadConfig({
      ...brokers,
      KAFKA_SASL_MECHANISM: 'scram-sha-256',
      KAFKA_SASL_USERNAME_FILE: file('user', 'dolly\n'),
      KAFKA_SASL_PASSWORD_FILE: file('password', 'from a file\n'),
    });

    expect(config.kafkaSasl).toEqual({
      mechanism: 'scram-sha-256',
      username: 'dolly',
      password: 'from a file',
    });
  });

  it('refuses a mechanism kafkajs does not speak, and names the ones it does', () => {
    expect(() =>
      loadConfig({
        ...brokers,
        KAFKA_SASL_MECHANISM: 'GSSAPI',
        KAFKA_SASL_USERNAME: 'dolly',
        KAFKA_SASL_PASSWORD: 'x',
      }),
    ).toThrow(
      /KAFKA_SASL_MECHANISM must be one of plain, scram-sha-256, scram-sha-512, not 'GSSAPI'/,
    );
  });

  it('refuses a mechanism without a user name and password, naming both', () => {
    expect(() => loadConfig({ ...brokers, KAFKA_SASL_MECHANISM: 'plain' })).toThrow(
      /KAFKA_SASL_USERNAME or KAFKA_SASL_USERNAME_FILE is required[\s\S]*KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE is required/,
    );
  });

  it('refuses credentials without a mechanism', () => {
    expect(() =>
      loadConfig({ ...brokers, KAFKA_SASL_USERNAME: 'dolly', KAFKA_SASL_PASSWORD: 'x' }),
    ).toThrow(
      /KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are set but KAFKA_SASL_MECHANISM is not/,
    );
  });

  it('refuses a password given both ways', () => {
    expect(() =>
      loadConfig({
        ...brokers,
        KAFKA_SASL_MECHANISM: 'plain',
        KAFKA_SASL_USERNAME: 'dolly',
        KAFKA_SASL_PASSWORD: 'x',
        KAFKA_SASL_PASSWORD_FILE: file('other', 'y'),
      }),
    ).toThrow(/set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both/);
  });

  it('names a secret file it cannot read, and an empty one', () => {
    const missing = join(dir, 'missing');
    expect(() =>
      loadConfig({
        ...brokers,
        KAFKA_SASL_MECHANISM: 'plain',
        KAFKA_SASL_USERNAME_FILE: file('empty', '\n'),
        KAFKA_SASL_PASSWORD_FILE: missing,
      }),
    ).toThrow(
      new RegExp(
        `KAFKA_SASL_USERNAME_FILE: .*empty is empty[\\s\\S]*KAFKA_SASL_PASSWORD_FILE: cannot read ${missing}`,
      ),
    );
  });

  it('speaks TLS with the system CAs when KAFKA_SSL is true', () => {
    expect(loadConfig({ ...brokers, KAFKA_SSL: 'true' }).kafkaTls).toEqual({});
    expect(loadConfig({ ...brokers, KAFKA_SSL: 'false' }).kafkaTls).toBeUndefined();
  });

  it('speaks TLS with a CA, a client certificate and its key read from files', () => {
    const config = loadConfig({
      ...brokers,
      KAFKA_SSL_CA_FILE: file('ca.pem', 'CA PEM'),
      KAFKA_SSL_CERT_FILE: file('cert.pem', 'CERT PEM'),
      KAFKA_SSL_KEY_FILE: file('key.pem', 'KEY PEM'),
    });

    expect(config.kafkaTls).toEqual({ ca: 'CA PEM', cert: 'CERT PEM', key: 'KEY PEM' });
  });

  it('refuses a KAFKA_SSL that is not true or false', () => {
    expect(() => loadConfig({ ...brokers, KAFKA_SSL: 'yes' })).toThrow(
      /KAFKA_SSL must be true or false, not 'yes'/,
    );
  });

  it('refuses TLS files with KAFKA_SSL=false, and a certificate without its key', () => {
    expect(() =>
      loadConfig({
        ...brokers,
        KAFKA_SSL: 'false',
        KAFKA_SSL_CA_FILE: file('ca2.pem', 'CA PEM'),
        KAFKA_SSL_CERT_FILE: file('cert2.pem', 'CERT PEM'),
      }),
    ).toThrow(
      /KAFKA_SSL_CA_FILE, KAFKA_SSL_CERT_FILE are set but KAFKA_SSL is false[\s\S]*KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together/,
    );
  });

  it('refuses a TLS file it cannot read', () => {
    expect(() => loadConfig({ ...brokers, KAFKA_SSL_CA_FILE: join(dir, 'nope.pem') })).toThrow(
      /KAFKA_SSL_CA_FILE: cannot read .*nope\.pem/,
    );
  });
});

describe('API limits', () => {
  it('bounds waits and commands by default', () => {
    expect(loadConfig({}).apiLimits).toEqual({
      maxWaitsPerPrincipal: 200,
      maxWaits: 1000,
      commandsPerSecond: 200,
      commandBurst: 400,
      streamMaxSeconds: 3600,
    });
  });

  it('reads each limit; a command rate of 0 means no limit', () => {
    const limits = loadConfig({
      DOLLY_API_MAX_WAITS_PER_PRINCIPAL: '2',
      DOLLY_API_MAX_WAITS: '3',
      DOLLY_API_COMMANDS_PER_SECOND: '0',
      DOLLY_API_COMMAND_BURST: '5',
      DOLLY_API_STREAM_MAX_SECONDS: '60',
    }).apiLimits;

    expect(limits).toEqual({
      maxWaitsPerPrincipal: 2,
      maxWaits: 3,
      commandsPerSecond: 0,
      commandBurst: 5,
      streamMaxSeconds: 60,
    });
  });

  it('refuses a limit that is not a whole number, or zero where zero would refuse everything', () => {
    expect(() => loadConfig({ DOLLY_API_MAX_WAITS: '1.5' })).toThrow(
      "DOLLY_API_MAX_WAITS must be a whole number of at least 1, not '1.5'",
    );
    expect(() => loadConfig({ DOLLY_API_COMMAND_BURST: '0' })).toThrow(
      /DOLLY_API_COMMAND_BURST must be a whole number of at least 1/,
    );
    expect(() => loadConfig({ DOLLY_API_COMMANDS_PER_SECOND: '-1' })).toThrow(
      /DOLLY_API_COMMANDS_PER_SECOND must be a whole number of at least 0/,
    );
  });
});

describe('limits of the event store and the relay', () => {
  it('defaults to 1 MB events, a minute idle in a transaction, a warning past 30 s held back', () => {
    expect(loadConfig({})).toMatchObject({
      eventMaxBytes: 1_000_000,
      pgIdleInTransactionTimeoutMs: 60_000,
      relayHeldBackWarningMs: 30_000,
    });
    expect(
      loadConfig({
        DOLLY_EVENT_MAX_BYTES: '500000',
        DOLLY_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS: '0',
        DOLLY_RELAY_HELD_BACK_WARNING_MS: '5000',
      }),
    ).toMatchObject({
      eventMaxBytes: 500_000,
      pgIdleInTransactionTimeoutMs: 0,
      relayHeldBackWarningMs: 5_000,
    });
  });

  it('refuses an event limit a block map part would not fit in, and what is not a number', () => {
    expect(() => loadConfig({ DOLLY_EVENT_MAX_BYTES: '100000' })).toThrow(
      /DOLLY_EVENT_MAX_BYTES must be a whole number of at least 300000/,
    );
    expect(() => loadConfig({ DOLLY_RELAY_HELD_BACK_WARNING_MS: '30s' })).toThrow(
      /DOLLY_RELAY_HELD_BACK_WARNING_MS/,
    );
  });
});

describe('datastore retry and check settings', () => {
  it('backs off from 2 s to 5 min by default, and gives qemu-img 2 min in check', () => {
    expect(loadConfig({})).toMatchObject({
      datastoreRetryMinMs: 2_000,
      datastoreRetryMaxMs: 300_000,
      checkImageTimeoutMs: 120_000,
    });
  });

  it('reads them, and refuses a maximum below the minimum or a pause that is no number', () => {
    expect(
      loadConfig({
        DOLLY_WORKER_DATASTORE_RETRY_MIN_MS: '100',
        DOLLY_WORKER_DATASTORE_RETRY_MAX_MS: '400',
      }),
    ).toMatchObject({ datastoreRetryMinMs: 100, datastoreRetryMaxMs: 400 });
    expect(() =>
      loadConfig({
        DOLLY_WORKER_DATASTORE_RETRY_MIN_MS: '500',
        DOLLY_WORKER_DATASTORE_RETRY_MAX_MS: '400',
      }),
    ).toThrow(/must not be below DOLLY_WORKER_DATASTORE_RETRY_MIN_MS/);
    expect(() => loadConfig({ DOLLY_CHECK_IMAGE_TIMEOUT_MS: 'soon' })).toThrow(
      /DOLLY_CHECK_IMAGE_TIMEOUT_MS must be a whole number/,
    );
  });
});

describe('job redelivery', () => {
  it('sends a job still queued after a minute again by default; no sooner than a second', () => {
    expect(loadConfig({}).jobRedeliverAfterMs).toBe(60_000);
    expect(loadConfig({ DOLLY_JOB_REDELIVER_AFTER_MS: '2000' }).jobRedeliverAfterMs).toBe(2_000);
    expect(() => loadConfig({ DOLLY_JOB_REDELIVER_AFTER_MS: '10' })).toThrow(
      /DOLLY_JOB_REDELIVER_AFTER_MS must be a whole number of at least 1000/,
    );
  });
});

describe('OVF packages', () => {
  it('imports by path from nowhere, unsigned packages allowed, the worker reached where it listens', () => {
    const config = loadConfig({ DOLLY_WORKER_PORT: '9000' });
    expect(config.importRoots).toEqual([]);
    expect(config.importRequireCertificate).toBe(false);
    expect(config.importTrustedCaFiles).toEqual([]);
    expect(config.workerTransferUrl).toBeNull();
  });

  it('reads the import roots, normalised, and refuses relative ones, naming each', () => {
    expect(
      loadConfig({ DOLLY_IMPORT_ROOTS: '/srv/imports/:/mnt/../media/ova' }).importRoots,
    ).toEqual(['/srv/imports', '/media/ova']);
    expect(() => loadConfig({ DOLLY_IMPORT_ROOTS: 'imports:/ok:../up' })).toThrow(
      "DOLLY_IMPORT_ROOTS must list absolute paths (separated by ':'), not 'imports', '../up'",
    );
  });

  it('takes a transfer URL with a scheme and no path, and refuses anything else', () => {
    expect(
      loadConfig({ DOLLY_WORKER_TRANSFER_URL: 'https://worker-3.dc1:8443/' }).workerTransferUrl,
    ).toBe('https://worker-3.dc1:8443');
    for (const bad of ['worker:8082', 'http://worker:8082/transfers', 'file:///etc/passwd'])
      expect(() => loadConfig({ DOLLY_WORKER_TRANSFER_URL: bad })).toThrow(
        /DOLLY_WORKER_TRANSFER_URL must be http\(s\):\/\/host\[:port\] with no path/,
      );
  });

  it('waits two minutes for the API to come for a transfer, or as long as set, never zero', () => {
    expect(loadConfig({}).transferWaitMs).toBe(120_000);
    expect(loadConfig({ DOLLY_TRANSFER_WAIT_MS: '5000' }).transferWaitMs).toBe(5_000);
    for (const bad of ['0', '-1', '1.5', 'soon'])
      expect(() => loadConfig({ DOLLY_TRANSFER_WAIT_MS: bad })).toThrow(
        `DOLLY_TRANSFER_WAIT_MS must be a whole number of at least 1, not '${bad}'`,
      );
  });
});
