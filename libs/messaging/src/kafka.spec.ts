import { errorCodes } from 'kafkajs/src/protocol/error';
import { createKafka } from './kafka';

const messageOf = (type: string) => errorCodes.find((code) => code.type === type)!.message;

function logged(message: string, extra: Record<string, unknown>) {
  const lines: [string, string][] = [];
  const kafka = createKafka({
    brokers: ['127.0.0.1:9'],
    clientId: 'spec',
    log: (level, text) => lines.push([level, text]),
  });
  kafka.logger().error(message, extra);
  return lines;
}

describe("kafkajs's log lines in Dolly's log", () => {
  it.each([
    'LEADER_NOT_AVAILABLE',
    'UNKNOWN_TOPIC_OR_PARTITION',
    'GROUP_COORDINATOR_NOT_AVAILABLE',
    'GROUP_LOAD_IN_PROGRESS',
    'NOT_COORDINATOR_FOR_GROUP',
  ])('keeps a response kafkajs retries for %s at debug', (type) => {
    expect(logged('Response Metadata(key: 3, version: 6)', { error: messageOf(type) })).toEqual([
      ['debug', 'kafkajs: Response Metadata(key: 3, version: 6)'],
    ]);
  });

  it.each(['TOPIC_AUTHORIZATION_FAILED', 'SASL_AUTHENTICATION_FAILED', 'MESSAGE_TOO_LARGE'])(
    'logs a response that failed with %s as an error',
    (type) => {
      expect(logged('Response Produce(key: 0, version: 7)', { error: messageOf(type) })).toEqual([
        ['error', 'kafkajs: Response Produce(key: 0, version: 7)'],
      ]);
    },
  );

  it('logs any other error as an error, even with a transient-sounding cause', () => {
    expect(
      logged('Crash: KafkaJSNumberOfRetriesExceeded', { error: messageOf('LEADER_NOT_AVAILABLE') }),
    ).toEqual([['error', 'kafkajs: Crash: KafkaJSNumberOfRetriesExceeded']]);
  });
});
