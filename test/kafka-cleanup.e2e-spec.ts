// The suites share the local broker with `npm start`: what a test makes there (topics, consumer
// groups, ACLs, all under a prefix of its own) must be gone when it ends, or the broker fills with
// dead installations (90 topics after one run).
import { randomBytes } from 'node:crypto';
import { allEventTopics, progressTopic } from '@dolly/contracts';
import {
  DollyStack,
  readMessages,
  removeAbandonedPrefixes,
  removeIssuedPrefixes,
  removeKafkaPrefix,
  testKafka,
  uniquePrefix,
} from '@dolly/testing';
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  Kafka,
  ResourcePatternTypes,
} from 'kafkajs';
import {
  allowIntegratorToConsume,
  localKafkaCredentials,
  revokeIntegratorConsuming,
} from '../tools/kafka/local-kafka';
import { registerDatastore, registerHost } from './support/inventory';

/** The topics and consumer groups on the broker whose names start with the prefix. */
async function leftOnBroker(prefix: string): Promise<{ topics: string[]; groups: string[] }> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    return {
      topics: (await admin.listTopics()).filter((topic) => topic.startsWith(prefix)).sort(),
      groups: (await admin.listGroups()).groups
        .map(({ groupId }) => groupId)
        .filter((groupId) => groupId.startsWith(prefix))
        .sort(),
    };
  } finally {
    await admin.disconnect();
  }
}

/** The ACLs on the broker for resources whose names start with the prefix (as its superuser). */
async function aclsFor(prefix: string): Promise<string[]> {
  const { broker } = localKafkaCredentials();
  const admin = new Kafka({
    brokers: process.env.KAFKA_BROKERS!.split(','),
    sasl: { mechanism: 'plain', ...broker },
    logLevel: 0,
  }).admin();
  await admin.connect();
  try {
    const { resources } = await admin.describeAcls({
      resourceType: AclResourceTypes.ANY,
      resourcePatternType: ResourcePatternTypes.ANY,
      operation: AclOperationTypes.ANY,
      permissionType: AclPermissionTypes.ANY,
    });
    return resources
      .map(({ resourceName }) => resourceName)
      .filter((name) => name.startsWith(prefix));
  } finally {
    await admin.disconnect();
  }
}

it('a stack leaves no topic or consumer group of its prefix when it stops', async () => {
  const stack = await DollyStack.start();
  const prefix = stack.kafkaPrefix;
  try {
    // Enough traffic that every app has made its topics and joined its groups.
    await registerHost(stack);
    await registerDatastore(stack);
    const made = await stack.eventually(async () => {
      const found = await leftOnBroker(prefix);
      return found.groups.length >= 3 ? found : undefined;
    }, 60_000);
    expect(made.topics).toEqual(
      expect.arrayContaining([...allEventTopics(prefix), progressTopic(prefix)]),
    );
  } finally {
    await stack.stop();
  }
  expect(await leftOnBroker(prefix)).toEqual({ topics: [], groups: [] });
});

it("removes a test's own prefixes and reader groups, and the integrator's ACLs when taken back", async () => {
  const prefix = uniquePrefix();
  const kafka = testKafka();
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: [{ topic: `${prefix}scratch`, numPartitions: 1 }],
    waitForLeaders: true,
  });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: `${prefix}scratch`, messages: [{ value: 'one' }] });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: `${prefix}group` });
  await consumer.connect();
  await consumer.subscribe({ topics: [`${prefix}scratch`], fromBeginning: true });
  await new Promise<void>((resolve) => void consumer.run({ eachMessage: async () => resolve() }));
  await consumer.disconnect();
  // readMessages reads as a group of its own, which it removes when done.
  const groupsBefore = (await leftOnBroker('dolly-test-reader-')).groups;
  await readMessages(kafka, [`${prefix}scratch`], (messages) => messages.length === 1);
  expect((await leftOnBroker('dolly-test-reader-')).groups).toEqual(groupsBefore);

  await allowIntegratorToConsume(prefix);
  expect(await aclsFor(prefix)).not.toEqual([]);
  await revokeIntegratorConsuming(prefix);
  expect(await aclsFor(prefix)).toEqual([]);

  expect(await leftOnBroker(prefix)).toEqual({
    topics: [`${prefix}scratch`],
    groups: [`${prefix}group`],
  });
  // What the setup file (tools/jest/remove-test-prefixes.ts) runs when a test file ends.
  await removeIssuedPrefixes();
  expect(await leftOnBroker(prefix)).toEqual({ topics: [], groups: [] });
});

it('removes what a killed run left, once it is older than the suites allow, and nothing newer', async () => {
  const secondsAgo = (seconds: number) =>
    `t${Math.floor(Date.now() / 1000 - seconds)
      .toString(16)
      .padStart(8, '0')}${randomBytes(4).toString('hex')}.`;
  const abandoned = secondsAgo(7 * 3600);
  const recent = secondsAgo(60);
  const admin = testKafka().admin();
  await admin.connect();
  await admin.createTopics({
    topics: [abandoned, recent].map((prefix) => ({
      topic: `${prefix}dolly.vm.events`,
      numPartitions: 1,
    })),
    waitForLeaders: true,
  });
  await admin.disconnect();

  expect(await removeAbandonedPrefixes(6 * 3600)).toEqual([abandoned]);
  expect(await leftOnBroker(abandoned)).toEqual({ topics: [], groups: [] });
  expect((await leftOnBroker(recent)).topics).toEqual([`${recent}dolly.vm.events`]);
  await removeKafkaPrefix(recent);
});
