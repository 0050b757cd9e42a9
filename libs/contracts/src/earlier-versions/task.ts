import {
  Job,
  Placement,
  PoolImageJob,
  StringEnum,
  TASK_TARGET_TYPES,
  TaskFailedData,
  TaskQueuedData,
  Uuid,
} from '@dolly/domain';
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { type EarlierVersion, without } from './earlier-version';

/** Building a pool's image as TaskQueued v1 carried it: one replica, one parent. */
export const PoolImageJobV1 = Type.Object(
  {
    kind: Type.Literal('pool-image'),
    poolId: Uuid('The pool.'),
    goldenVmId: Uuid('The golden image.'),
    templateVmId: Uuid('The internal template to make.'),
    replicaVmId: Uuid('The replica to make.'),
    parentVmId: Uuid('The parent to make and power on.'),
    sourceDatastoreId: Uuid('The golden image’s datastore (the internal template stays on it).'),
    datastoreId: Uuid('The pool’s datastore (replica, parent, machines).'),
    disks: Type.Array(
      Type.Object(
        {
          snapshotLayerId: Type.String({
            minLength: 1,
            description: 'The golden snapshot’s layer.',
          }),
          templateDiskId: Uuid('The internal template’s disk.'),
          replicaDiskId: Uuid('The replica’s disk.'),
          parentDiskId: Uuid('The parent’s disk.'),
          capacityBytes: Type.Integer({ minimum: 1 }),
        },
        { additionalProperties: false },
      ),
    ),
    parentMemory: Type.Object(
      { imageId: Uuid('The parent’s memory image.'), sizeBytes: Type.Integer({ minimum: 1 }) },
      { additionalProperties: false },
    ),
  },
  {
    additionalProperties: false,
    description:
      'Build a pool’s image: internal template (linked clone of the golden snapshot), replica (thin full copy, frozen), parent (linked clone of the replica, powered on).',
  },
);
export type PoolImageJobV1 = Static<typeof PoolImageJobV1>;

/** A v1 image job (one replica, one parent) in today's terms. */
export function poolImageJobFromV1(job: PoolImageJobV1): PoolImageJob {
  const { poolId, goldenVmId, templateVmId, replicaVmId, parentVmId, datastoreId } = job;
  return {
    kind: 'pool-image',
    poolId,
    goldenVmId,
    templateVmId,
    sourceDatastoreId: job.sourceDatastoreId,
    disks: job.disks.map(({ snapshotLayerId, templateDiskId, capacityBytes }) => ({
      snapshotLayerId,
      templateDiskId,
      capacityBytes,
    })),
    replicas: [{ replicaVmId, datastoreId, diskIds: job.disks.map((d) => d.replicaDiskId) }],
    parents: [
      {
        parentVmId,
        replicaVmId,
        datastoreId,
        diskIds: job.disks.map((d) => d.parentDiskId),
        memory: job.parentMemory,
      },
    ],
  };
}

/**
 * The job kinds each version added: v3 a datastore's own, v4 OVF import and export, v5 the read
 * models' rebuild (with its target, the read models, and its placement, a projector).
 */
const ADDED_IN_V3 = ['restore-quarantined'];
const ADDED_IN_V4 = ['import', 'export'];
const ADDED_IN_V5 = ['rebuild-read-models'];

/** The jobs a TaskQueued of an earlier version carried, with the pool-image job of its version. */
const jobsWith = (poolImageJob: TSchema, notYet: readonly string[]): TSchema =>
  Type.Union(
    Job.anyOf
      .filter((kind) => !notYet.includes(kind.properties.kind.const))
      .map((kind) => (kind.properties.kind.const === 'pool-image' ? poolImageJob : kind)),
    { description: 'What a worker must do, by kind.' },
  );
/** Before v5: a task's target was a VM, host, datastore or pool, and a worker did its job. */
const targetBeforeV5 = Type.Object(
  {
    ...TaskQueuedData.properties.target.properties,
    type: StringEnum(
      TASK_TARGET_TYPES.filter((type) => type !== 'read-models'),
      'Kind of object the task acts on.',
    ),
  },
  { additionalProperties: false },
);
const placementBeforeV5 = Type.Union(
  Placement.anyOf.filter((kind) => kind.properties.kind.const !== 'projector'),
  {
    description:
      'Who may do the job: any worker of a group, or one worker (a running VM lives in its storage daemon).',
  },
);
const taskQueuedWith = (job: TSchema): TSchema =>
  Type.Object(
    { ...TaskQueuedData.properties, target: targetBeforeV5, job, placement: placementBeforeV5 },
    { additionalProperties: false, description: TaskQueuedData.description },
  );

/** v1: a pool-image job built one replica and one parent. */
export const TaskQueuedDataV1 = taskQueuedWith(
  jobsWith(PoolImageJobV1, [...ADDED_IN_V3, ...ADDED_IN_V4, ...ADDED_IN_V5]),
);
/** v2: a pool-image job builds a replica per datastore and a parent per host and datastore. */
export const TaskQueuedDataV2 = taskQueuedWith(
  jobsWith(PoolImageJob, [...ADDED_IN_V3, ...ADDED_IN_V4, ...ADDED_IN_V5]),
);
/** v3: a datastore's own job too (restore a quarantined layer). */
export const TaskQueuedDataV3 = taskQueuedWith(
  jobsWith(PoolImageJob, [...ADDED_IN_V4, ...ADDED_IN_V5]),
);
/** v4: OVF import and export too. */
export const TaskQueuedDataV4 = taskQueuedWith(jobsWith(PoolImageJob, ADDED_IN_V5));

/** A v1 TaskQueued read as v2: only a pool-image job changed shape. */
export function taskQueuedFromV1(data: unknown): unknown {
  const v1 = data as { job: { kind: string } };
  return v1.job.kind === 'pool-image'
    ? { ...v1, job: poolImageJobFromV1(v1.job as PoolImageJobV1) }
    : v1;
}

/**
 * TaskQueued v2 (jobs on VMs' disks only) read as v3: every v2 job is a v3 job as it is; v3 added
 * a datastore's own job (restore-quarantined), which no v2 event carries.
 */
export const taskQueuedFromV2 = (data: unknown): unknown => data;

/** TaskQueued v3 read as v4: v4 added OVF import and export jobs, which no v3 event carries. */
export const taskQueuedFromV3 = (data: unknown): unknown => data;

/**
 * TaskQueued v4 read as v5: v5 added the read models' rebuild (its target, its job, a projector
 * placed to do it), which no v4 event carries.
 */
export const taskQueuedFromV4 = (data: unknown): unknown => data;

export const TASK_QUEUED_EARLIER: readonly EarlierVersion[] = [
  { schema: TaskQueuedDataV1, upcastToNext: taskQueuedFromV1 },
  { schema: TaskQueuedDataV2, upcastToNext: taskQueuedFromV2 },
  { schema: TaskQueuedDataV3, upcastToNext: taskQueuedFromV3 },
  { schema: TaskQueuedDataV4, upcastToNext: taskQueuedFromV4 },
];

/** TaskFailed v1 said one code and message; v2 lists every reason when there were several. */
export const TASK_FAILED_EARLIER: readonly EarlierVersion[] = [
  {
    schema: without(TaskFailedData, ['reasons']),
    upcastToNext: (data: unknown) => ({ ...(data as object), reasons: [] }),
  },
];
