import { TaskQueuedDataV2 } from '@dolly/domain';
import type { EarlierVersion } from './earlier-version';

/**
 * TaskQueued v2 (jobs on VMs' disks only) read as v3: every v2 job is a v3 job as it is; v3 added
 * a datastore's own job (restore-quarantined), which no v2 event carries.
 */
export const taskQueuedFromV2 = (data: unknown): unknown => data;

export const TASK_QUEUED_V2: EarlierVersion = {
  schema: TaskQueuedDataV2,
  upcastToNext: taskQueuedFromV2,
};
