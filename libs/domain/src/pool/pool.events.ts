import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { InventoryName, StringEnum, Uuid } from '../shared/schema';

/**
 * A desktop pool (Horizon): instant clones forked from a running parent, itself standing on a
 * replica of an internal template made from a golden image's snapshot. The pool's stream says
 * which machines it has and who uses them; the VMs' own streams say what they are.
 */
const poolId = Uuid('The pool.');
const vmId = Uuid('The machine (an instant clone of the pool).');
const taskId = Uuid('The task doing the work.');
const userId = Type.String({
  minLength: 1,
  maxLength: 256,
  description: 'The user a desktop is for, as the broker names them (e.g. alice@corp.example).',
});

export const POOL_PROVISIONING = ['up-front', 'on-demand'] as const;
export const POOL_ASSIGNMENT = ['floating', 'dedicated'] as const;

/** What an operator chooses for a pool; the rest (the chain's VMs) Dolly makes. */
export const PoolSettings = Type.Object(
  {
    name: InventoryName('The pool’s name.'),
    namingPattern: Type.String({
      minLength: 1,
      maxLength: 64,
      description:
        'Machine names: one token, {n} (1, 2, ...) or {n:fixed=N} (zero-padded to N digits), e.g. desk-{n:fixed=3}. Names stay within 15 characters (the NetBIOS limit desktops have).',
    }),
    maxMachines: Type.Integer({ minimum: 1, maximum: 5000, description: 'Machines at most.' }),
    spareMachines: Type.Integer({
      minimum: 0,
      maximum: 5000,
      description: 'Powered-on machines kept unassigned, ready for the next user.',
    }),
    provisioning: StringEnum(
      POOL_PROVISIONING,
      'up-front: make every machine at once; on-demand: keep the spares, make more as users come.',
    ),
    assignment: StringEnum(
      POOL_ASSIGNMENT,
      'floating: a desktop is deleted when its user logs off; dedicated: it stays the user’s and is refreshed (back to the replica’s state, same name and MAC).',
    ),
  },
  { additionalProperties: false },
);
export type PoolSettings = Static<typeof PoolSettings>;

export const POOL_MAX_HOSTS = 8;
export const POOL_MAX_DATASTORES = 8;

export const PoolReplica = Type.Object(
  {
    datastoreId: Uuid('The datastore it stands on.'),
    replicaVmId: Uuid('The replica: a thin full clone of the internal template, read-only.'),
  },
  { additionalProperties: false, description: 'The shared base of the machines of one datastore.' },
);
export type PoolReplica = Static<typeof PoolReplica>;

export const PoolParent = Type.Object(
  {
    hostId: Uuid('The host it (and the machines forked from it) run on.'),
    datastoreId: Uuid('The datastore of its replica, its disks and its machines’ disks.'),
    parentVmId: Uuid('The running parent: a linked clone of the datastore’s replica.'),
  },
  {
    additionalProperties: false,
    description: 'Where machines of one host and datastore fork from.',
  },
);
export type PoolParent = Static<typeof PoolParent>;

/**
 * The chain a pool's machines come from: one internal template, one replica per datastore the pool
 * uses, and one running parent per host and datastore. Machines spread over the parents.
 */
export const PoolImage = Type.Object(
  {
    goldenVmId: Uuid('The golden image (master VM).'),
    snapshotId: Uuid('Its snapshot published as the image.'),
    templateVmId: Uuid('The internal template: a linked clone of the snapshot.'),
    replicas: Type.Array(PoolReplica, {
      minItems: 1,
      maxItems: POOL_MAX_DATASTORES,
      description: 'One per datastore of the pool.',
    }),
    parents: Type.Array(PoolParent, {
      minItems: 1,
      maxItems: POOL_MAX_HOSTS * POOL_MAX_DATASTORES,
      description: 'One per host and datastore of the pool.',
    }),
    taskId,
  },
  { additionalProperties: false },
);
export type PoolImage = Static<typeof PoolImage>;

export const PoolCreatedData = Type.Object(
  { poolId, settings: PoolSettings, image: PoolImage },
  {
    additionalProperties: false,
    description:
      'A pool was created; its image (internal template, a replica per datastore, a parent per host and datastore) is being built.',
  },
);
export const PoolImagePublishedData = Type.Object(
  { poolId, taskId },
  {
    additionalProperties: false,
    description: 'The pool’s image is built and its parent runs: machines can be forked.',
  },
);
export const PoolImageFailedData = Type.Object(
  {
    poolId,
    taskId,
    code: Type.String({ minLength: 1, description: 'Stable code of the reason.' }),
    message: Type.String({ description: 'The reason, for humans.' }),
  },
  {
    additionalProperties: false,
    description: 'Building the pool’s image failed or was cancelled; the pool makes no machines.',
  },
);
export const PoolMachineRequestedData = Type.Object(
  {
    poolId,
    vmId,
    taskId,
    name: InventoryName('Its name, from the naming pattern.'),
    number: Type.Integer({ minimum: 1, description: 'The number the pattern gave it.' }),
    userId: Type.Union([userId, Type.Null()], {
      description: 'The user it is made for (no spare was left), or null for a spare.',
    }),
    parentVmId: Type.Union(
      [Uuid('The parent it is forked from (its host and datastore).'), Type.Null()],
      {
        description:
          'The parent it is forked from; null only in v1 events, from pools with a single parent.',
      },
    ),
  },
  {
    additionalProperties: false,
    description: 'The pool forks a new machine from one of its parents.',
  },
);
export const PoolMachineReadyData = Type.Object(
  { poolId, vmId },
  { additionalProperties: false, description: 'A machine was forked and runs.' },
);
export const PoolMachineFailedData = Type.Object(
  {
    poolId,
    vmId,
    code: Type.String({ minLength: 1, description: 'Stable code of the reason.' }),
    message: Type.String({ description: 'The reason, for humans.' }),
  },
  {
    additionalProperties: false,
    description: 'Forking a machine failed; it never came to be and its number is free again.',
  },
);
export const PoolDesktopAssignedData = Type.Object(
  { poolId, vmId, userId },
  { additionalProperties: false, description: 'A machine of the pool is now a user’s desktop.' },
);
export const PoolDesktopLoggedOffData = Type.Object(
  {
    poolId,
    vmId,
    userId,
    then: StringEnum(
      ['delete', 'refresh'] as const,
      'What follows: a floating desktop is deleted, a dedicated one refreshed and kept.',
    ),
  },
  { additionalProperties: false, description: 'A user logged off their desktop.' },
);
export const PoolMachineRefreshRequestedData = Type.Object(
  { poolId, vmId, taskId },
  {
    additionalProperties: false,
    description: 'A machine goes back to the replica’s state (same name and MAC).',
  },
);
export const PoolMachineRefreshedData = Type.Object(
  { poolId, vmId },
  { additionalProperties: false, description: 'A machine is back at the replica’s state.' },
);
export const PoolMachineRefreshFailedData = Type.Object(
  {
    poolId,
    vmId,
    code: Type.String({ minLength: 1, description: 'Stable code of the reason.' }),
    message: Type.String({ description: 'The reason, for humans.' }),
  },
  {
    additionalProperties: false,
    description: 'Refreshing a machine failed; it runs as it was and may be refreshed again.',
  },
);
export const PoolVmRemovalFailedData = Type.Object(
  {
    poolId,
    vmId: Uuid('The machine or internal VM.'),
    code: Type.String({ minLength: 1, description: 'Stable code of the reason.' }),
    message: Type.String({ description: 'The reason, for humans.' }),
  },
  {
    additionalProperties: false,
    description: 'Deleting one of the pool’s VMs failed; it stays, and the pool may try again.',
  },
);
export const PoolVmRemovalRequestedData = Type.Object(
  {
    poolId,
    vmId: Uuid('A machine or an internal VM (parent, replica, internal template) of the pool.'),
    taskId,
  },
  { additionalProperties: false, description: 'The pool deletes one of its VMs.' },
);
export const PoolVmRemovedData = Type.Object(
  { poolId, vmId: Uuid('The machine or internal VM.') },
  {
    additionalProperties: false,
    description: 'One of the pool’s VMs is gone, its space returned.',
  },
);
export const PoolEditedData = Type.Object(
  {
    poolId,
    name: InventoryName('The pool’s name.'),
    maxMachines: Type.Integer({ minimum: 1, maximum: 5000 }),
    spareMachines: Type.Integer({ minimum: 0, maximum: 5000 }),
  },
  { additionalProperties: false, description: 'A pool’s settings changed (the values now).' },
);
export const PoolDeletionRequestedData = Type.Object(
  { poolId },
  {
    additionalProperties: false,
    description:
      'Deleting a pool started: its machines and parent go first, then its replica, then its internal template.',
  },
);
export const PoolDeletedData = Type.Object(
  { poolId },
  {
    additionalProperties: false,
    description: 'A pool is gone, with every internal VM and layer it made.',
  },
);

export const POOL_ROLLOUT = ['at-logoff', 'immediate'] as const;
export type PoolRollout = (typeof POOL_ROLLOUT)[number];

export const PoolImagePushStartedData = Type.Object(
  {
    poolId,
    image: PoolImage,
    rollout: StringEnum(
      POOL_ROLLOUT,
      'How desktops in use move to the new image: at-logoff (as their users log off) or immediate (their users are logged off at once). Spares move at once either way, never below the spare count.',
    ),
  },
  {
    additionalProperties: false,
    description:
      'Push image: a new internal template, replicas and parents are being built from a golden snapshot where the pool stands; the pool keeps forking from its current image meanwhile.',
  },
);
export const PoolImagePushedData = Type.Object(
  { poolId, taskId },
  {
    additionalProperties: false,
    description:
      'The pushed image is built and its parent runs: machines fork from it from now on, and the machines of earlier images are replaced; each earlier image’s chain is removed once no machine stands on it.',
  },
);
export const PoolImagePushFailedData = Type.Object(
  {
    poolId,
    taskId,
    code: Type.String({ minLength: 1, description: 'Stable code of the reason.' }),
    message: Type.String({ description: 'The reason, for humans.' }),
  },
  {
    additionalProperties: false,
    description:
      'Building a pushed image failed or was cancelled: nothing of it is left, and the pool keeps its image and machines.',
  },
);

export const PoolImagePushScheduledData = Type.Object(
  {
    poolId,
    goldenVmId: Uuid('The golden image.'),
    snapshotId: Uuid('Its snapshot to publish.'),
    rollout: StringEnum(POOL_ROLLOUT, 'How machines will move to the new image.'),
    startAt: Type.String({ format: 'date-time', description: 'When the push starts.' }),
  },
  {
    additionalProperties: false,
    description:
      'A push image is scheduled: at startAt Dolly starts it as a task (PoolImagePushStarted), or unschedules it with the reason it could not.',
  },
);
export const PoolImagePushUnscheduledData = Type.Object(
  {
    poolId,
    reason: Type.String({
      minLength: 1,
      description: 'Why: cancelled by an operator, or what kept it from starting at its time.',
    }),
    code: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
      description: 'Stable code of what kept it from starting; null when it was cancelled.',
    }),
  },
  { additionalProperties: false, description: 'A scheduled push image will not start.' },
);

export const PoolMachinesLostData = Type.Object(
  {
    poolId,
    vmIds: Type.Array(vmId, { description: 'The machines whose host is gone.' }),
    workerIds: Type.Array(Type.String({ minLength: 1 }), {
      description: 'The workers (hosts) found gone.',
    }),
  },
  {
    additionalProperties: false,
    description:
      'Recover: machines whose host is gone. Each is recreated (forked again under its name, MAC and user) once the pool’s parent runs, and the lost one removed.',
  },
);

type E<Type extends string, Schema extends TSchema> = { type: Type; data: Static<Schema> };
export type PoolCreated = E<'PoolCreated', typeof PoolCreatedData>;
export type PoolEvent =
  | PoolCreated
  | E<'PoolImagePublished', typeof PoolImagePublishedData>
  | E<'PoolImageFailed', typeof PoolImageFailedData>
  | E<'PoolMachineRequested', typeof PoolMachineRequestedData>
  | E<'PoolMachineReady', typeof PoolMachineReadyData>
  | E<'PoolMachineFailed', typeof PoolMachineFailedData>
  | E<'PoolDesktopAssigned', typeof PoolDesktopAssignedData>
  | E<'PoolDesktopLoggedOff', typeof PoolDesktopLoggedOffData>
  | E<'PoolMachineRefreshRequested', typeof PoolMachineRefreshRequestedData>
  | E<'PoolMachineRefreshed', typeof PoolMachineRefreshedData>
  | E<'PoolMachineRefreshFailed', typeof PoolMachineRefreshFailedData>
  | E<'PoolVmRemovalFailed', typeof PoolVmRemovalFailedData>
  | E<'PoolVmRemovalRequested', typeof PoolVmRemovalRequestedData>
  | E<'PoolVmRemoved', typeof PoolVmRemovedData>
  | E<'PoolEdited', typeof PoolEditedData>
  | E<'PoolDeletionRequested', typeof PoolDeletionRequestedData>
  | E<'PoolDeleted', typeof PoolDeletedData>
  | E<'PoolImagePushStarted', typeof PoolImagePushStartedData>
  | E<'PoolImagePushed', typeof PoolImagePushedData>
  | E<'PoolImagePushFailed', typeof PoolImagePushFailedData>
  | E<'PoolImagePushScheduled', typeof PoolImagePushScheduledData>
  | E<'PoolImagePushUnscheduled', typeof PoolImagePushUnscheduledData>
  | E<'PoolMachinesLost', typeof PoolMachinesLostData>;

/** Every pool event's current schema; earlier versions live with the contracts (libs/contracts). */
export const POOL_EVENT_SCHEMAS = {
  PoolCreated: PoolCreatedData,
  PoolImagePublished: PoolImagePublishedData,
  PoolImageFailed: PoolImageFailedData,
  PoolMachineRequested: PoolMachineRequestedData,
  PoolMachineReady: PoolMachineReadyData,
  PoolMachineFailed: PoolMachineFailedData,
  PoolDesktopAssigned: PoolDesktopAssignedData,
  PoolDesktopLoggedOff: PoolDesktopLoggedOffData,
  PoolMachineRefreshRequested: PoolMachineRefreshRequestedData,
  PoolMachineRefreshed: PoolMachineRefreshedData,
  PoolMachineRefreshFailed: PoolMachineRefreshFailedData,
  PoolVmRemovalFailed: PoolVmRemovalFailedData,
  PoolVmRemovalRequested: PoolVmRemovalRequestedData,
  PoolVmRemoved: PoolVmRemovedData,
  PoolEdited: PoolEditedData,
  PoolDeletionRequested: PoolDeletionRequestedData,
  PoolDeleted: PoolDeletedData,
  PoolImagePushStarted: PoolImagePushStartedData,
  PoolImagePushed: PoolImagePushedData,
  PoolImagePushFailed: PoolImagePushFailedData,
  PoolImagePushScheduled: PoolImagePushScheduledData,
  PoolImagePushUnscheduled: PoolImagePushUnscheduledData,
  PoolMachinesLost: PoolMachinesLostData,
} satisfies Record<PoolEvent['type'], TSchema>;

export type PoolPushSchedule = Static<typeof PoolImagePushScheduledData>;
