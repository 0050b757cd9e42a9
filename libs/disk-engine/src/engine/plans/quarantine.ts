/**
 * quarantine: check sets a layer aside, as a logged operation like any other.
 */
import { randomUUID } from 'node:crypto';
import { quarantineEvents } from '../check';
import { type EngineContext } from '../engine-context';

/** Quarantine is an operation like any other: logged started, then committed. */
export async function quarantine(
  ctx: EngineContext,
  datastoreId: string,
  layerId: string,
  reason: string,
): Promise<void> {
  await ctx.runner.run(
    'quarantine',
    { operationId: `check.${randomUUID()}`, datastoreId, layerId, reason },
    async () => undefined,
    (graph) => ({
      datastoreId,
      events: quarantineEvents(graph, datastoreId, layerId, reason),
      intent: { temporaryFiles: [], publishedFiles: [], removedFiles: [] },
      locks: { exclusive: [], shared: [] },
      result: null,
    }),
  );
}
