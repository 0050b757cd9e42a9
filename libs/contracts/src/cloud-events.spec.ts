import {
  ceType,
  fromKafkaMessage,
  MalformedEventMessageError,
  toKafkaMessage,
} from './cloud-events';
import type { RecordedEvent } from './recorded-event';

const event: RecordedEvent = {
  eventId: '0190f3a0-0000-7000-8000-00000000e001',
  type: 'VmRenamed',
  schemaVersion: 1,
  streamId: 'vm-0190f3a0-0000-7000-8000-000000000001',
  streamType: 'vm',
  streamVersion: 4,
  globalPosition: '9007199254740993',
  occurredAt: '2026-11-26T10:00:00.000Z',
  data: { vmId: '0190f3a0-0000-7000-8000-000000000001', name: 'b', previousName: 'a' },
  metadata: {
    correlationId: '0190f3a0-0000-7000-8000-00000000c001',
    causationId: null,
    actor: { id: 'alice', role: 'operator' },
    taskId: '0190f3a0-0000-7000-8000-00000000f001',
    command: 'RenameVm',
  },
};

const asKafka = (message: ReturnType<typeof toKafkaMessage>) => ({
  value: Buffer.from(message.value),
  headers: Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, Buffer.from(v)])),
});

describe('CloudEvents on Kafka', () => {
  it('carries the required context attributes as ce_ headers, the data as the value, keyed by stream', () => {
    const message = toKafkaMessage(event);
    expect(message.key).toBe(event.streamId);
    expect(JSON.parse(message.value)).toEqual(event.data);
    expect(message.headers).toMatchObject({
      ce_specversion: '1.0',
      ce_id: event.eventId,
      ce_type: 'io.dolly.VmRenamed.v1',
      ce_source: '/dolly/vm',
      ce_subject: event.streamId,
      ce_time: event.occurredAt,
      'content-type': 'application/json',
    });
  });

  it('reads back exactly what it wrote (64-bit positions stay exact)', () => {
    expect(fromKafkaMessage(asKafka(toKafkaMessage(event)))).toEqual(event);
  });

  it('refuses a message that is not a Dolly event', () => {
    const message = asKafka(toKafkaMessage(event));
    message.headers.ce_type = Buffer.from('com.example.Other');
    expect(() => fromKafkaMessage(message)).toThrow(MalformedEventMessageError);
    expect(ceType('VmCreated', 2)).toBe('io.dolly.VmCreated.v2');
  });
});
