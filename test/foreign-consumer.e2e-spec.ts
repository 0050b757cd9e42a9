import { execFileSync } from 'node:child_process';
import { eventTopic } from '@dolly/contracts';
import { DollyStack } from '@dolly/testing';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import {
  allowIntegratorToConsume,
  localKafkaCredentials,
  revokeIntegratorConsuming,
} from '../tools/kafka/local-kafka';
import { createVm, registerDatastore, registerHost } from './support/inventory';

/** A message as kcat prints it with -J: headers are a flat [name, value, name, value...] list. */
interface KcatMessage {
  topic: string;
  partition: number;
  offset: number;
  key: string;
  payload: string;
  headers: string[];
}

let stack: DollyStack;
beforeAll(async () => {
  stack = await DollyStack.start(['api', 'projector']);
  // What an operator does for an integrator: read access to this installation's event topics.
  await allowIntegratorToConsume(stack.kafkaPrefix);
}, 120_000);
afterAll(async () => {
  if (stack) await revokeIntegratorConsuming(stack.kafkaPrefix);
  await stack?.stop();
});

it('can be consumed by a client that is not ours (kcat) as the read-only integrator principal, with CloudEvents headers and payloads valid against the published schemas', async () => {
  const hostId = await registerHost(stack);
  const datastoreId = await registerDatastore(stack);
  const vmId = await createVm(stack, hostId, datastoreId);
  await stack.request('POST', `/vms/${vmId}/rename`, {
    body: { name: 'renamed' },
    headers: { prefer: 'wait=10' },
  });

  const { integrator } = localKafkaCredentials();
  const output = execFileSync(
    'kcat',
    [
      '-b',
      process.env.KAFKA_BROKERS!,
      // SASL/PLAIN: Debian 12's kcat (librdkafka 2.0.2) cannot do SCRAM against Kafka 4.
      '-X',
      'security.protocol=SASL_PLAINTEXT',
      '-X',
      'sasl.mechanisms=PLAIN',
      '-X',
      `sasl.username=${integrator.username}`,
      '-X',
      `sasl.password=${integrator.password}`,
      '-C',
      '-t',
      eventTopic('vm', stack.kafkaPrefix),
      '-o',
      'beginning',
      '-e',
      '-J',
      '-q',
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  const messages = output
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as KcatMessage)
    .filter((message) => message.key === `vm-${vmId}`);
  expect(messages).toHaveLength(2);

  // What a consumer written against the AsyncAPI document would do: read the headers, fetch the schema, validate.
  const asyncApi = (
    await stack.request<{ channels: Record<string, { address: string }> }>(
      'GET',
      '/asyncapi.json',
      { role: null },
    )
  ).body;
  expect(Object.values(asyncApi.channels).map((c) => c.address)).toContain(
    eventTopic('vm', stack.kafkaPrefix),
  );
  const ajv = new Ajv({ strict: false });
  addFormats(ajv);
  const types: string[] = [];
  for (const message of messages) {
    const headers = Object.fromEntries(
      message.headers.flatMap((value, i, all) => (i % 2 === 0 ? [[value, all[i + 1]]] : [])),
    );
    expect(headers).toMatchObject({
      ce_specversion: '1.0',
      ce_source: '/dolly/vm',
      ce_subject: `vm-${vmId}`,
      'content-type': 'application/json',
    });
    expect(headers.ce_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number.isNaN(Date.parse(headers.ce_time))).toBe(false);
    const [, type, version] = /^io\.dolly\.(\w+)\.v(\d+)$/.exec(headers.ce_type)!;
    expect(headers.ce_dataschema).toBe(`urn:dolly:schema:event:${type}:${version}`);
    const schema = (
      await stack.request<Record<string, unknown>>('GET', `/schemas/events/${type}/${version}`, {
        role: null,
      })
    ).body;
    const validate = ajv.compile(schema);
    const payload = JSON.parse(message.payload) as unknown;
    expect([type, validate(payload), validate.errors]).toEqual([type, true, null]);
    types.push(type);
  }
  expect(types).toEqual(['VmCreated', 'VmRenamed']);
}, 120_000);
