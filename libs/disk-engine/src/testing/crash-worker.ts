/**
 * A worker process for crash tests: runs the engine and obeys its parent over IPC, so that the
 * test can SIGKILL it (and its daemon) at the worst moment. Run with `node --import tsx`.
 */
import { toDiskErrorData } from '../errors';
import { QemuDiskEngine, type QemuDiskEngineConfig } from '../engine/qemu-disk-engine';

export type ToWorker =
  | { type: 'start'; config: QemuDiskEngineConfig }
  | { type: 'call'; id: number; method: string; command: unknown };

export type FromWorker =
  | { type: 'started'; daemonPid: number }
  | { type: 'progress'; id: number; doneBytes: number; totalBytes: number }
  | { type: 'result'; id: number; result: unknown }
  | { type: 'error'; id: number; error: unknown };

let engine: QemuDiskEngine | undefined;
const send = (message: FromWorker) => process.send?.(message);

process.on('message', (message: ToWorker) => {
  void (async () => {
    if (message.type === 'start') {
      engine = (await QemuDiskEngine.start(message.config)).engine;
      send({ type: 'started', daemonPid: engine.daemonPid ?? 0 });
      return;
    }
    const { id, method, command } = message;
    try {
      const heldOpen = await holdOpen(method, command);
      if (heldOpen) {
        send({ type: 'result', id, result: heldOpen });
        return;
      }
      const call = (
        engine as unknown as Record<string, (c: unknown, o: unknown) => Promise<unknown>>
      )[method];
      const result = await call.call(engine, command, {
        onProgress: (p: { doneBytes: number; totalBytes: number }) =>
          send({ type: 'progress', id, doneBytes: p.doneBytes, totalBytes: p.totalBytes }),
      });
      send({ type: 'result', id, result: result ?? null });
    } catch (error) {
      send({ type: 'error', id, error: toDiskErrorData(error) });
    }
  })();
});

/**
 * Operations held open until a later call (an import session, a staged export) stay open here,
 * for the test to kill the worker with them under way; it gets their plain data back. An import
 * writes `writes` ([offset, byte, length]) first, so that its temporary image exists.
 */
const held: unknown[] = [];
async function holdOpen(method: string, command: unknown): Promise<unknown> {
  if (!engine) return undefined;
  if (method === 'beginDiskImport') {
    const { writes = [], ...begin } = command as Parameters<
      QemuDiskEngine['beginDiskImport']
    >[0] & {
      writes?: Array<[number, number, number]>;
    };
    const session = await engine.beginDiskImport(begin);
    for (const [offset, byte, length] of writes)
      await session.write(offset, Buffer.alloc(length, byte));
    held.push(session);
    return { operationId: session.operationId };
  }
  if (method === 'stageExport') {
    const staged = await engine.stageExport(
      command as Parameters<QemuDiskEngine['stageExport']>[0],
    );
    held.push(staged);
    return { operationId: staged.operationId, files: staged.files };
  }
  return undefined;
}
