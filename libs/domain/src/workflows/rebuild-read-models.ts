import type { RebuildReadModelsJob } from '../jobs/jobs';
import { queue } from './steps';
import type { Workspace } from './workspace';

/** The read models as a task's target: named by the schema that serves them. */
export const READ_MODELS_TARGET = { type: 'read-models', id: 'read_model' } as const;

/**
 * Rebuilding the read models (admin): a projector replays the whole history into fresh tables
 * while the live ones keep serving, then switches over to them. Nothing in the inventory changes:
 * only the task records it, and how many events it replayed.
 */
export function requestReadModelRebuild(ws: Workspace, input: { taskId: string }): void {
  const job: RebuildReadModelsJob = { kind: 'rebuild-read-models' };
  queue(ws, input.taskId, 'RebuildReadModels', READ_MODELS_TARGET, job, { kind: 'projector' });
}

export interface RebuildOutcome {
  kind: 'rebuild-read-models';
  /** Events replayed into the tables switched to. */
  events: number;
}
