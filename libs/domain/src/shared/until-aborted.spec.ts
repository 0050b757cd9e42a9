import { getEventListeners } from 'node:events';
import { aliveCount, collectGarbage } from '@dolly/testing/pure';
import { untilAborted } from './until-aborted';

describe('untilAborted', () => {
  it('resolves and rejects as the promise does, with no signal or one never aborted', async () => {
    const failure = new Error('the source failed');
    await expect(untilAborted(Promise.resolve(7), undefined)).resolves.toBe(7);
    await expect(untilAborted(Promise.resolve(7), new AbortController().signal)).resolves.toBe(7);
    await expect(untilAborted(Promise.reject(failure), new AbortController().signal)).rejects.toBe(
      failure,
    );
  });

  it('rejects with the signal’s reason when it aborts first, or had aborted already', async () => {
    const controller = new AbortController();
    const waiting = untilAborted(new Promise(() => undefined), controller.signal);
    const reason = new Error('cancelled');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    await expect(untilAborted(Promise.resolve(1), controller.signal)).rejects.toBe(reason);
  });

  it('leaves no listener on the signal once the promise settled', async () => {
    const { signal } = new AbortController();
    for (let i = 0; i < 100; i++) await untilAborted(Promise.resolve(i), signal);
    await untilAborted(Promise.reject(new Error('x')), signal).catch(() => undefined);
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  it('holds nothing a settled promise resolved with, however long the signal lives', async () => {
    const { signal } = new AbortController();
    const chunks: WeakRef<Buffer>[] = [];
    for (let i = 0; i < 64; i++) {
      const chunk = Buffer.alloc(64 * 1024, i);
      chunks.push(new WeakRef(chunk));
      await untilAborted(Promise.resolve({ value: chunk, done: false }), signal);
    }
    await collectGarbage();
    // The last may still sit in this function's frame; none before it may be held.
    expect(aliveCount(chunks.slice(0, -1))).toBe(0);
  });
});
