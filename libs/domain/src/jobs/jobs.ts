import { type Static, Type } from '@sinclair/typebox';
import { StringEnum, Uuid } from '../shared/schema';
import { CloneFormat, DiskFormat, PowerState } from '../vm/vm.events';

/**
 * What a worker must do for a task: one job of one kind, with everything it needs to act without
 * reading the inventory (ids, sizes, formats, layers). Carried by TaskQueued on the task topic,
 * which is the workers' jobs topic.
 */
export const Placement = Type.Union(
  [
    Type.Object(
      {
        kind: Type.Literal('group'),
        group: Type.String({
          minLength: 1,
          description: 'Workers serving the same datastores share a group.',
        }),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        kind: Type.Literal('worker'),
        workerId: Type.String({
          minLength: 1,
          description: 'The worker holding the VM’s live disks.',
        }),
      },
      { additionalProperties: false },
    ),
  ],
  {
    description:
      'Who may do the job: any worker of a group, or one worker (a running VM lives in its storage daemon).',
  },
);
export type Placement = Static<typeof Placement>;

const NewDisk = Type.Object(
  {
    diskId: Uuid('The disk to make.'),
    capacityBytes: Type.Integer({ minimum: 1 }),
    format: DiskFormat,
  },
  { additionalProperties: false },
);

const vmId = Uuid('The VM.');
const datastoreId = Uuid('Its datastore.');

export const CreateDisksJob = Type.Object(
  { kind: Type.Literal('create-disks'), vmId, datastoreId, disks: Type.Array(NewDisk) },
  { additionalProperties: false, description: "Make a new VM's empty disks." },
);

export const CloneJob = Type.Object(
  {
    kind: Type.Literal('clone'),
    sourceVmId: Uuid('The VM or template copied.'),
    targetVmId: Uuid('The clone.'),
    sourceDatastoreId: Uuid('Where the source lives.'),
    targetDatastoreId: Uuid('Where the clone goes.'),
    linked: Type.Boolean(),
    snapshotId: Type.Union([Uuid('The snapshot copied (or stood on).'), Type.Null()]),
    format: CloneFormat,
    live: Type.Boolean({
      description: 'The source runs: take a crash-consistent point-in-time copy.',
    }),
    powerOnAfter: Type.Boolean({ description: 'Power the clone on once its disks exist.' }),
    disks: Type.Array(
      Type.Object(
        {
          sourceDiskId: Uuid('The source disk.'),
          sourceLayerId: Type.Union([Type.String(), Type.Null()], {
            description:
              'The frozen layer to copy or stand on (a snapshot’s); null: the disk as it is now.',
          }),
          diskId: Uuid('The clone’s disk.'),
          capacityBytes: Type.Integer({ minimum: 1 }),
          format: DiskFormat,
        },
        { additionalProperties: false },
      ),
    ),
  },
  {
    additionalProperties: false,
    description: 'Copy a VM or template (or stand a linked clone on it).',
  },
);

export const PowerJob = Type.Object(
  {
    kind: Type.Literal('power'),
    vmId,
    datastoreId,
    to: PowerState,
    from: PowerState,
    diskIds: Type.Array(Uuid('A disk to open or close.')),
    memoryImage: Type.Object(
      { imageId: Uuid('The memory image.'), sizeBytes: Type.Integer({ minimum: 1 }) },
      { additionalProperties: false },
    ),
  },
  {
    additionalProperties: false,
    description: 'Open a VM’s disks and memory image in a storage daemon, or close them.',
  },
);

export const SnapshotJob = Type.Object(
  {
    kind: Type.Literal('snapshot'),
    action: StringEnum(['take', 'revert', 'delete'] as const, 'What to do with the snapshot.'),
    vmId,
    datastoreId,
    snapshotId: Uuid('The snapshot.'),
    live: Type.Boolean({ description: 'The VM runs: the switch happens in its storage daemon.' }),
    disks: Type.Array(
      Type.Object(
        {
          diskId: Uuid('A disk of the VM.'),
          snapshotLayerId: Type.Union([Type.String(), Type.Null()], {
            description: 'Its layer frozen by the snapshot (revert, delete).',
          }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  {
    additionalProperties: false,
    description: 'Take, revert to, or delete (consolidate) a snapshot.',
  },
);

export const DeleteVmJob = Type.Object(
  {
    kind: Type.Literal('delete-vm'),
    vmId,
    datastoreId,
    diskIds: Type.Array(Uuid('A disk of the VM.')),
    memoryImageId: Type.Union([Uuid('Its kept memory image (a suspended VM).'), Type.Null()]),
    linkedTo: Type.Union([Uuid('The VM or template a linked clone stands on.'), Type.Null()]),
  },
  {
    additionalProperties: false,
    description: 'Delete a VM’s disks (layers others stand on stay).',
  },
);

export const Job = Type.Union([CreateDisksJob, CloneJob, PowerJob, SnapshotJob, DeleteVmJob], {
  description: 'What a worker must do, by kind.',
});
export type Job = Static<typeof Job>;
export type CreateDisksJob = Static<typeof CreateDisksJob>;
export type CloneJob = Static<typeof CloneJob>;
export type PowerJob = Static<typeof PowerJob>;
export type SnapshotJob = Static<typeof SnapshotJob>;
export type DeleteVmJob = Static<typeof DeleteVmJob>;
