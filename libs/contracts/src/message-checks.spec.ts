import { toKafkaMessage } from './cloud-events';
import { DEAD_LETTER_REASONS } from './dead-letters';
import { currentSchemaVersion } from './event-catalog';
import {
  type ConsumedMessage,
  PROGRESS_CLOCK_SKEW_MS,
  readEventMessage,
  readProgressMessage,
  storeDisagreement,
} from './message-checks';
import type { RecordedEvent } from './recorded-event';

const vmId = '0190f3a0-0000-7000-8000-000000000001';
const renamed: RecordedEvent = {
  eventId: '0190f3a0-0000-7000-8000-00000000e001',
  type: 'VmRenamed',
  schemaVersion: 1,
  streamId: `vm-${vmId}`,
  streamType: 'vm',
  streamVersion: 4,
  globalPosition: '9007199254740993',
  occurredAt: '2026-11-26T10:00:00.000Z',
  data: { vmId, name: 'b', previousName: 'a' },
  metadata: {
    correlationId: '0190f3a0-0000-7000-8000-00000000c001',
    causationId: null,
    actor: { id: 'alice', role: 'operator' },
    taskId: '0190f3a0-0000-7000-8000-00000000f001',
    command: 'RenameVm',
  },
};

const PREFIX = 'p.';
const VM_TOPIC = 'p.dolly.vm.events';

/** A message as kafkajs hands it to a consumer, from what the relay would publish for an event. */
function consumed(
  event: RecordedEvent,
  change: (m: { key: string; value: string; headers: Record<string, string> }) => void = () => {},
): ConsumedMessage {
  const message = toKafkaMessage(event);
  change(message);
  return {
    key: Buffer.from(message.key),
    value: Buffer.from(message.value),
    headers: Object.fromEntries(
      Object.entries(message.headers).map(([name, value]) => [name, Buffer.from(value)]),
    ),
  };
}

const refusal = (message: ConsumedMessage, topic = VM_TOPIC) => {
  const read = readEventMessage(message, topic, PREFIX);
  return read.ok ? 'accepted' : read.reason;
};

describe('reading an event message', () => {
  it('reads back what the relay publishes', () => {
    expect(readEventMessage(consumed(renamed), VM_TOPIC, PREFIX)).toEqual({
      ok: true,
      value: renamed,
    });
  });

  it('refuses garbage without headers, a message without a value, one whose value is not JSON', () => {
    expect(refusal({ key: null, value: Buffer.from([0xff, 0x00, 0x13]) })).toBe('EVENT.MALFORMED');
    expect(refusal({ ...consumed(renamed), value: null })).toBe('EVENT.MALFORMED');
    expect(refusal({ ...consumed(renamed), value: Buffer.from('{"vmId":') })).toBe(
      'EVENT.MALFORMED',
    );
  });

  it.each([
    ['without ce_id', (h: Record<string, string>) => delete h.ce_id],
    ['without its stream version', (h: Record<string, string>) => delete h.ce_dollystreamversion],
    ['without its position', (h: Record<string, string>) => delete h.ce_dollyposition],
    ['with an id that is not a UUID', (h: Record<string, string>) => (h.ce_id = 'forged-1')],
    ['with stream version 0', (h: Record<string, string>) => (h.ce_dollystreamversion = '0')],
    [
      'with a stream version beyond any stream',
      (h: Record<string, string>) => (h.ce_dollystreamversion = '99999999999'),
    ],
    ['with a time that is no time', (h: Record<string, string>) => (h.ce_time = 'yesterday')],
  ])('refuses a message %s as malformed', (_name, change) => {
    expect(refusal(consumed(renamed, (m) => change(m.headers)))).toBe('EVENT.MALFORMED');
  });

  it('refuses a header given twice (which one would count is anyone’s guess)', () => {
    const message = consumed(renamed);
    message.headers!.ce_id = [Buffer.from(renamed.eventId), Buffer.from(renamed.eventId)];
    expect(readEventMessage(message, VM_TOPIC, PREFIX)).toMatchObject({
      ok: false,
      reason: 'EVENT.MALFORMED',
      detail: 'header ce_id appears 2 times',
    });
  });

  it('refuses types and versions that were never published', () => {
    expect(refusal(consumed(renamed, (m) => (m.headers.ce_type = 'io.dolly.VmStolen.v1')))).toBe(
      'EVENT.UNKNOWN_TYPE',
    );
    expect(refusal(consumed(renamed, (m) => (m.headers.ce_type = 'io.dolly.VmRenamed.v7')))).toBe(
      'EVENT.UNKNOWN_TYPE',
    );
    expect(refusal(consumed(renamed, (m) => (m.headers.ce_type = 'com.example.Other')))).toBe(
      'EVENT.UNKNOWN_TYPE',
    );
  });

  it('refuses data that the published schema refuses, naming every violation', () => {
    const message = consumed(renamed, (m) => {
      m.value = JSON.stringify({ vmId: 'not-a-uuid', name: '', previousName: 'a', admin: true });
    });
    const read = readEventMessage(message, VM_TOPIC, PREFIX);
    expect(read).toMatchObject({ ok: false, reason: 'EVENT.INVALID_DATA' });
    const { detail } = read as { detail: string };
    expect(detail).toContain('data/vmId must match format "uuid"');
    expect(detail).toContain('data/name must NOT have fewer than 1 characters');
    expect(detail).toContain('(admin)');
  });

  it('refuses an event on a topic, source, stream or key its type does not belong to', () => {
    expect(refusal(consumed(renamed), 'p.dolly.host.events')).toBe('EVENT.MISADDRESSED');
    expect(refusal(consumed(renamed), 'dolly.vm.events')).toBe('EVENT.MISADDRESSED');
    expect(refusal(consumed(renamed, (m) => (m.headers.ce_source = '/dolly/host')))).toBe(
      'EVENT.MISADDRESSED',
    );
    expect(refusal(consumed(renamed, (m) => (m.key = `vm-${vmId.replace('1', '2')}`)))).toBe(
      'EVENT.MISADDRESSED',
    );
    const subject = (s: string) =>
      consumed(renamed, (m) => {
        m.headers.ce_subject = s;
        m.key = s;
      });
    expect(refusal(subject(`host-${vmId}`))).toBe('EVENT.MISADDRESSED');
    expect(refusal(subject('vm-a\u0000b'))).toBe('EVENT.MISADDRESSED');
    // What the sender wrote is quoted in the detail, but only so much of it.
    const long = readEventMessage(subject(`vm-${'x'.repeat(5000)}`), VM_TOPIC, PREFIX);
    expect(long).toMatchObject({ ok: false, reason: 'EVENT.MISADDRESSED' });
    expect((long as { detail: string }).detail.length).toBeLessThanOrEqual(1003);
  });

  it('reads an event published under an earlier schema version, checked against that version, as the current one', () => {
    const taskId = '0190f3a0-0000-7000-8000-0000000000a1';
    const queuedV1: RecordedEvent = {
      ...renamed,
      type: 'TaskQueued',
      streamId: `task-${taskId}`,
      streamType: 'task',
      streamVersion: 1,
      data: {
        taskId,
        operation: 'CreateVm',
        target: { type: 'vm', id: vmId },
        job: {
          kind: 'create-disks',
          vmId,
          datastoreId: '0190f3a0-0000-7000-8000-0000000000d1',
          disks: [
            {
              diskId: '0190f3a0-0000-7000-8000-0000000000d2',
              capacityBytes: 1024,
              format: 'thin',
            },
          ],
        },
        placement: { kind: 'group', group: 'all' },
      },
    };
    const message = consumed(queuedV1, (m) => {
      m.headers.ce_type = 'io.dolly.TaskQueued.v1';
      m.headers.ce_dataschema = 'urn:dolly:schema:event:TaskQueued:1';
    });
    const read = readEventMessage(message, 'p.dolly.task.events', PREFIX);
    expect(read).toMatchObject({
      ok: true,
      value: { type: 'TaskQueued', schemaVersion: currentSchemaVersion('TaskQueued') },
    });
  });

  it('gives reasons as stable codes (AREA.REASON)', () => {
    expect(Object.keys(DEAD_LETTER_REASONS).every((code) => /^[A-Z]+\.[A-Z_]+$/.test(code))).toBe(
      true,
    );
  });
});

describe('comparing a received event with the store', () => {
  it('finds nothing to say about the event the store holds', () => {
    expect(storeDisagreement(renamed, renamed)).toBeNull();
  });

  it('finds an event the store does not have', () => {
    expect(storeDisagreement(renamed, undefined)).toEqual({
      reason: 'EVENT.NOT_IN_STORE',
      detail: `the store has no event at vm-${vmId} version 4`,
    });
  });

  it('names what differs from the stored event: another event at that place, or a copy with other data or another actor', () => {
    const forged = { ...renamed, eventId: '0190f3a0-0000-7000-8000-00000000e0ff' };
    expect(storeDisagreement(forged, renamed)).toEqual({
      reason: 'EVENT.NOT_AS_STORED',
      detail: `vm-${vmId} version 4 differs from the stored event in eventId`,
    });
    const altered = {
      ...renamed,
      data: { vmId, name: 'evil', previousName: 'a' },
      metadata: { ...renamed.metadata, actor: { id: 'mallory', role: 'admin' } },
    };
    expect(storeDisagreement(altered, renamed)?.detail).toMatch(/in data, metadata$/);
    expect(storeDisagreement({ ...renamed, globalPosition: '1' }, renamed)?.reason).toBe(
      'EVENT.NOT_AS_STORED',
    );
  });

  it('compares metadata as it travels: what the store leaves out reads as null on Kafka', () => {
    const stored = {
      ...renamed,
      metadata: { correlationId: renamed.metadata.correlationId, actor: renamed.metadata.actor },
    } as RecordedEvent;
    const received = {
      ...renamed,
      metadata: { ...stored.metadata, causationId: null, taskId: null, command: null },
    };
    expect(storeDisagreement(received, stored)).toBeNull();
  });
});

describe('reading a progress message', () => {
  const now = new Date('2026-11-26T10:00:00.000Z');
  const progress = {
    taskId: '0190f3a0-0000-7000-8000-0000000000a1',
    attempt: 1,
    phase: 'copy',
    doneBytes: 10,
    totalBytes: 100,
    reportedAt: now.toISOString(),
  };
  const message = (value: unknown): ConsumedMessage => ({
    key: Buffer.from(progress.taskId),
    value: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
  });
  const reason = (value: unknown) => {
    const read = readProgressMessage(message(value), now);
    return read.ok ? 'accepted' : read.reason;
  };

  it('reads a progress report', () => {
    expect(readProgressMessage(message(progress), now)).toEqual({ ok: true, value: progress });
  });

  it('refuses what is not a progress report', () => {
    expect(reason('not json')).toBe('PROGRESS.MALFORMED');
    expect(reason({ ...progress, attempt: 0 })).toBe('PROGRESS.MALFORMED');
    expect(reason({ ...progress, taskId: 'x' })).toBe('PROGRESS.MALFORMED');
    expect(reason({ ...progress, doneBytes: -1 })).toBe('PROGRESS.MALFORMED');
    expect(reason({ ...progress, extra: true })).toBe('PROGRESS.MALFORMED');
    expect(readProgressMessage({ key: null, value: null }, now)).toMatchObject({
      reason: 'PROGRESS.MALFORMED',
    });
  });

  it('refuses a report dated later than now and the clocks’ drift: newer reports win, so it would hide every genuine one', () => {
    const later = (ms: number) => new Date(now.getTime() + ms).toISOString();
    expect(reason({ ...progress, reportedAt: later(PROGRESS_CLOCK_SKEW_MS) })).toBe('accepted');
    expect(reason({ ...progress, reportedAt: later(PROGRESS_CLOCK_SKEW_MS + 1) })).toBe(
      'PROGRESS.FROM_THE_FUTURE',
    );
  });
});
