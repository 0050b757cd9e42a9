import { isDiskEngineError } from '../errors';
import { LockTable } from './locks';

const refused = (take: () => unknown) => {
  try {
    take();
  } catch (error) {
    return isDiskEngineError(error, 'DISK.BUSY');
  }
  return false;
};

describe('layer locks', () => {
  it('readers share, a writer excludes', () => {
    const table = new LockTable();
    const release = table.acquire('op1', { exclusive: [], shared: ['layer:A'] });
    table.acquire('op2', { exclusive: [], shared: ['layer:A'] });
    expect(refused(() => table.acquire('op3', { exclusive: ['layer:A'], shared: [] }))).toBe(true);
    release();
    expect(table.holds('layer:A')).toBe(true);
  });

  describe('with operations under way in other processes', () => {
    const elsewhere = [
      { operationId: 'theirs-1', intent: { locks: { exclusive: ['layer:X'], shared: [] } } },
      { operationId: 'theirs-2', intent: { locks: { exclusive: [], shared: ['layer:S'] } } },
      { operationId: 'legacy', intent: {} },
    ];

    it('what they change is refused here, to readers and writers alike', () => {
      const table = new LockTable();
      const take = (exclusive: string[], shared: string[]) => () =>
        table.acquire('mine', { exclusive, shared }, elsewhere);
      expect(refused(take([], ['layer:X']))).toBe(true);
      expect(refused(take(['layer:X'], []))).toBe(true);
    });

    it('what they read may be read here, not changed', () => {
      const table = new LockTable();
      const take = (exclusive: string[], shared: string[]) => () =>
        table.acquire('mine', { exclusive, shared }, elsewhere);
      expect(refused(take(['layer:S'], []))).toBe(true);
      expect(refused(take([], ['layer:S']))).toBe(false);
      expect(table.holds('layer:X')).toBe(false); // theirs are released there, never held here
    });
  });
});
