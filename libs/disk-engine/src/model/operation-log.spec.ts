import {
  IllegalTransition,
  type OperationLogEntry,
  type OperationRecord,
  admit,
  applyLogEntry,
  fingerprintOf,
} from './operation-log';

const intent = { events: [], temporaryFiles: [], publishedFiles: [], removedFiles: [] };
const started: OperationLogEntry = {
  phase: 'started',
  operationId: 'op1',
  kind: 'createDisk',
  datastoreId: 'ds1',
  fingerprint: 'f',
  at: 't0',
  intent,
};
const fold = (...entries: OperationLogEntry[]) =>
  entries.reduce<OperationRecord | undefined>(applyLogEntry, undefined);

describe('operation log', () => {
  it('a new id runs', () => {
    expect(admit(undefined, 'f')).toEqual({ kind: 'run' });
  });

  it('a committed operation replays its result', () => {
    const record = fold(started, {
      phase: 'committed',
      operationId: 'op1',
      at: 't1',
      events: [],
      result: { diskId: 'd' },
    });
    expect(admit(record, 'f')).toEqual({ kind: 'replay-result', result: { diskId: 'd' } });
  });

  it('a permanent failure replays its error; a retryable one runs again', () => {
    const permanent = fold(started, {
      phase: 'failed',
      operationId: 'op1',
      at: 't1',
      error: { code: 'DISK.NO_SPACE', message: 'm', retryable: false },
    });
    expect(admit(permanent, 'f')).toMatchObject({
      kind: 'replay-error',
      error: { code: 'DISK.NO_SPACE' },
    });
    const cancelled = fold(started, {
      phase: 'failed',
      operationId: 'op1',
      at: 't1',
      error: { code: 'DISK.CANCELLED', message: 'm', retryable: true },
    });
    expect(admit(cancelled, 'f')).toEqual({ kind: 'run' });
    expect(
      fold(
        started,
        {
          phase: 'failed',
          operationId: 'op1',
          at: 't1',
          error: { code: 'DISK.CANCELLED', message: 'm', retryable: true },
        },
        started,
      )?.status,
    ).toBe('started');
  });

  it('an operation abandoned by check runs again', () => {
    const record = fold(started, {
      phase: 'abandoned',
      operationId: 'op1',
      at: 't1',
      reason: 'crash',
    });
    expect(admit(record, 'f')).toEqual({ kind: 'run' });
  });

  it('an operation under way is joined, not run twice', () => {
    expect(admit(fold(started), 'f')).toEqual({ kind: 'in-flight' });
  });

  it('the same id with another command is a conflict', () => {
    expect(admit(fold(started), 'other')).toEqual({
      kind: 'conflict',
      kindOfRecorded: 'createDisk',
    });
  });

  it.each([
    [
      'commit without start',
      [{ phase: 'committed', operationId: 'op1', at: 't', events: [], result: null }],
    ],
    [
      'start after commit',
      [
        started,
        { phase: 'committed', operationId: 'op1', at: 't', events: [], result: null },
        started,
      ],
    ],
    [
      'abandon after commit',
      [
        started,
        { phase: 'committed', operationId: 'op1', at: 't', events: [], result: null },
        { phase: 'abandoned', operationId: 'op1', at: 't', reason: 'r' },
      ],
    ],
  ] as Array<[string, OperationLogEntry[]]>)('refuses %s', (_what, entries) => {
    expect(() => fold(...entries)).toThrow(IllegalTransition);
  });

  it('fingerprints ignore the operation id and key order', () => {
    expect(fingerprintOf({ operationId: 'a', x: 1, y: { b: 2, a: 1 } })).toBe(
      fingerprintOf({ y: { a: 1, b: 2 }, x: 1, operationId: 'b' }),
    );
    expect(fingerprintOf({ x: 1 })).not.toBe(fingerprintOf({ x: 2 }));
  });
});
