import { DEAD_LETTER_HEADERS } from '@dolly/contracts';
import { type DeadLetter, deadLetterMessage } from './dead-letters';

const letter: DeadLetter = {
  topic: 'p.dolly.vm.events',
  partition: 3,
  offset: '42',
  message: {
    key: Buffer.from('vm-1'),
    value: Buffer.from([0xff, 0x00]),
    headers: {
      ce_id: Buffer.from('e1'),
      ce_type: Buffer.from('io.dolly.VmRenamed.v1'),
      dolly_deadletter_reason: Buffer.from('all is fine'),
      dolly_deadletter_topic: Buffer.from('elsewhere'),
    },
  },
  reason: 'EVENT.NOT_IN_STORE',
  detail: 'the store has no event at vm-1 version 9',
};

describe('a dead letter on Kafka', () => {
  const at = new Date('2026-11-26T10:00:00.000Z');
  const message = deadLetterMessage(letter, 'p.dolly-projector', at);

  it('keeps the original key, value and headers as they came', () => {
    expect(message.key).toBe(letter.message.key);
    expect(message.value).toBe(letter.message.value);
    expect(message.headers).toMatchObject({
      ce_id: Buffer.from('e1'),
      ce_type: Buffer.from('io.dolly.VmRenamed.v1'),
    });
  });

  it('says where it was found, who refused it, when and why; a forger’s headers of those names are dropped', () => {
    expect(message.headers).toMatchObject({
      [DEAD_LETTER_HEADERS.reason]: 'EVENT.NOT_IN_STORE',
      [DEAD_LETTER_HEADERS.detail]: 'the store has no event at vm-1 version 9',
      [DEAD_LETTER_HEADERS.topic]: 'p.dolly.vm.events',
      [DEAD_LETTER_HEADERS.partition]: '3',
      [DEAD_LETTER_HEADERS.offset]: '42',
      [DEAD_LETTER_HEADERS.consumer]: 'p.dolly-projector',
      [DEAD_LETTER_HEADERS.time]: '2026-11-26T10:00:00.000Z',
    });
    expect(Object.keys(message.headers!).filter((name) => name.startsWith('dolly_'))).toHaveLength(
      7,
    );
  });

  it('carries a message that had no key, value or headers', () => {
    const bare = deadLetterMessage(
      { ...letter, message: { key: null, value: null } },
      'p.dolly-progress',
      at,
    );
    expect([bare.key, bare.value, Object.keys(bare.headers!).length]).toEqual([null, null, 7]);
  });
});
