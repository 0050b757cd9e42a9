import { type Static, Type } from '@sinclair/typebox';
import { Sha256, StringEnum, Uuid } from '../shared/schema';
import { CloneFormat, DiskFormat, Nic, PowerState, VirtualHardware } from '../vm/vm.events';

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
    Type.Object(
      { kind: Type.Literal('projector') },
      {
        additionalProperties: false,
        description: 'A projector: the read models are its own (a rebuild of them).',
      },
    ),
  ],
  {
    description:
      'Who may do the job: any worker of a group, one worker (a running VM lives in its storage daemon), or a projector.',
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

export const ForkJob = Type.Object(
  {
    kind: Type.Literal('fork'),
    parentVmId: Uuid('The running VM forked.'),
    targetVmId: Uuid('The instant clone.'),
    replicaVmId: Type.Union([Uuid('The replica the parent stands on.'), Type.Null()]),
    poolId: Type.Union([Uuid('The pool the clone is for.'), Type.Null()]),
    datastoreId,
    disks: Type.Array(
      Type.Object(
        { sourceDiskId: Uuid('A disk of the parent.'), diskId: Uuid('The clone’s overlay of it.') },
        { additionalProperties: false },
      ),
    ),
    memoryImage: Type.Object(
      {
        sourceImageId: Uuid('The parent’s memory image.'),
        imageId: Uuid('The clone’s overlay of it.'),
      },
      { additionalProperties: false },
    ),
  },
  {
    additionalProperties: false,
    description:
      'Fork an instant clone from a running VM: copy-on-write overlays of its disks and memory image, opened and exported at once.',
  },
);

const diskIdsByGoldenDisk = (what: string) =>
  Type.Array(Uuid(what), {
    description: `${what}, one per disk of the golden image, in its order.`,
  });

export const PoolImageJob = Type.Object(
  {
    kind: Type.Literal('pool-image'),
    poolId: Uuid('The pool.'),
    goldenVmId: Uuid('The golden image.'),
    templateVmId: Uuid('The internal template to make.'),
    sourceDatastoreId: Uuid('The golden image’s datastore (the internal template stays on it).'),
    disks: Type.Array(
      Type.Object(
        {
          snapshotLayerId: Type.String({
            minLength: 1,
            description: 'The golden snapshot’s layer.',
          }),
          templateDiskId: Uuid('The internal template’s disk.'),
          capacityBytes: Type.Integer({ minimum: 1 }),
        },
        { additionalProperties: false },
      ),
    ),
    replicas: Type.Array(
      Type.Object(
        {
          replicaVmId: Uuid('The replica to make.'),
          datastoreId: Uuid('Its datastore.'),
          diskIds: diskIdsByGoldenDisk('The replica’s disks'),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, description: 'One per datastore: thin full copies of the template, frozen.' },
    ),
    parents: Type.Array(
      Type.Object(
        {
          parentVmId: Uuid('The parent to make and power on.'),
          replicaVmId: Uuid('The replica it is a linked clone of.'),
          datastoreId: Uuid('Its datastore (its replica’s).'),
          diskIds: diskIdsByGoldenDisk('The parent’s disks'),
          memory: Type.Object(
            {
              imageId: Uuid('The parent’s memory image.'),
              sizeBytes: Type.Integer({ minimum: 1 }),
            },
            { additionalProperties: false },
          ),
        },
        { additionalProperties: false },
      ),
      {
        minItems: 1,
        description: 'One per host and datastore: linked clones of a replica, powered on.',
      },
    ),
  },
  {
    additionalProperties: false,
    description:
      'Build a pool’s image: internal template (linked clone of the golden snapshot), a replica per datastore (thin full copy, frozen), a parent per host and datastore (linked clone of its replica, powered on).',
  },
);

export const RefreshJob = Type.Object(
  {
    kind: Type.Literal('refresh'),
    vmId,
    poolId: Uuid('The pool.'),
    datastoreId,
    diskIds: Type.Array(Uuid('A disk of the machine.')),
    memoryImageId: Uuid('Its memory image.'),
  },
  {
    additionalProperties: false,
    description:
      'Put an instant clone back at its fork state: new empty overlays of disks and memory, reopened.',
  },
);

export const DeleteVmJob = Type.Object(
  {
    kind: Type.Literal('delete-vm'),
    vmId,
    datastoreId,
    diskIds: Type.Array(Uuid('A disk of the VM.')),
    memoryImageId: Type.Union([Uuid('Its kept memory image (a suspended VM).'), Type.Null()]),
    live: Type.Boolean({
      description: 'It still runs (a pool removes its own VMs without powering them off first).',
    }),
    linkedTo: Type.Union([Uuid('The VM or template a linked clone stands on.'), Type.Null()]),
    poolId: Type.Union([Uuid('The pool removing one of its VMs.'), Type.Null()]),
  },
  {
    additionalProperties: false,
    description: 'Delete a VM’s disks (layers others stand on stay).',
  },
);

/**
 * A layer's id as the disk engine names its file: no path separator, no `..`, no leading dot,
 * at most 128 characters. A hostile name never reaches a datastore.
 */
export const LayerId = (description: string) =>
  Type.String({
    minLength: 1,
    maxLength: 128,
    pattern: '^(?!.*\\.\\.)[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$',
    description,
  });

export const RestoreQuarantinedJob = Type.Object(
  {
    kind: Type.Literal('restore-quarantined'),
    datastoreId,
    layerId: LayerId('The quarantined layer to take back.'),
  },
  {
    additionalProperties: false,
    description:
      'Check a quarantined layer again and take it back into use if it is sound now (else it stays quarantined).',
  },
);

export const RebuildReadModelsJob = Type.Object(
  { kind: Type.Literal('rebuild-read-models') },
  {
    additionalProperties: false,
    description:
      'Rebuild every read model from the whole history into fresh tables while the live ones serve, then switch over to them.',
  },
);

/**
 * The bytes of an import or export cross between the API and the worker that does the job over
 * the worker's transfer endpoint: the API holds a one-time token, the job only its digest, so
 * nobody who reads the job (every reader of the task topic) can present it.
 */
export const TransferGrant = Type.Object(
  {
    tokenSha256: Sha256(
      'SHA-256 of the one-time token the API presents; the token is never recorded.',
    ),
  },
  { additionalProperties: false },
);

export const ImportSource = Type.Union(
  [
    Type.Object(
      { kind: Type.Literal('upload'), transfer: TransferGrant },
      {
        additionalProperties: false,
        description: 'Uploaded through the API, streamed to the worker.',
      },
    ),
    Type.Object(
      {
        kind: Type.Literal('path'),
        path: Type.String({
          minLength: 2,
          maxLength: 4096,
          pattern: '^/',
          description: 'An .ova or .ovf under one of the import roots (DOLLY_IMPORT_ROOTS).',
        }),
      },
      { additionalProperties: false },
    ),
  ],
  { description: 'Where the package comes from.' },
);

export const ImportJob = Type.Object(
  {
    kind: Type.Literal('import'),
    vmId,
    datastoreId,
    source: ImportSource,
    package: Type.Object(
      {
        name: Type.String({ minLength: 1, maxLength: 255 }),
        descriptorSha256: Sha256(
          'The descriptor the API validated: a package whose descriptor differs is refused.',
        ),
      },
      { additionalProperties: false },
    ),
    virtualSystemId: Type.String({ minLength: 1, maxLength: 255 }),
    deploymentOption: Type.Union([Type.String({ minLength: 1, maxLength: 255 }), Type.Null()]),
    requireCertificate: Type.Boolean({
      description: 'Refuse a package whose manifest is not signed.',
    }),
    disks: Type.Array(
      Type.Object(
        {
          ovfDiskId: Type.String({
            minLength: 1,
            maxLength: 255,
            description: 'The DiskSection disk.',
          }),
          diskId: Uuid('The VM’s disk made from it.'),
          capacityBytes: Type.Integer({ minimum: 1 }),
          format: DiskFormat,
        },
        { additionalProperties: false },
      ),
      { maxItems: 64 },
    ),
  },
  {
    additionalProperties: false,
    description:
      'Import an OVF package (OVA or OVF): its disks converted into the VM’s new disks as they arrive.',
  },
);

export const ExportJob = Type.Object(
  {
    kind: Type.Literal('export'),
    vmId,
    datastoreId,
    snapshotId: Type.Union([Uuid('The snapshot exported.'), Type.Null()]),
    transfer: TransferGrant,
    vm: Type.Object(
      {
        name: Type.String({ minLength: 1, maxLength: 80 }),
        hardware: VirtualHardware,
        nics: Type.Array(Nic, { maxItems: 10 }),
      },
      { additionalProperties: false, description: 'What the descriptor says of the VM.' },
    ),
    disks: Type.Array(
      Type.Object(
        {
          diskId: Uuid('A disk of the VM.'),
          label: Type.String({ minLength: 1, maxLength: 64 }),
          capacityBytes: Type.Integer({ minimum: 1 }),
          layerId: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
            description: 'The snapshot’s frozen layer of it; null: the disk as it is.',
          }),
        },
        { additionalProperties: false },
      ),
      { maxItems: 64 },
    ),
  },
  {
    additionalProperties: false,
    description:
      'Export a VM or template as an OVA (descriptor, SHA-256 manifest, streamOptimized disks), streamed to the API.',
  },
);

export const Job = Type.Union(
  [
    CreateDisksJob,
    CloneJob,
    PowerJob,
    SnapshotJob,
    ForkJob,
    PoolImageJob,
    RefreshJob,
    DeleteVmJob,
    RestoreQuarantinedJob,
    ImportJob,
    ExportJob,
    RebuildReadModelsJob,
  ],
  { description: 'What a worker (or, for the read models, a projector) must do, by kind.' },
);
export type Job = Static<typeof Job>;
export type RestoreQuarantinedJob = Static<typeof RestoreQuarantinedJob>;
export type RebuildReadModelsJob = Static<typeof RebuildReadModelsJob>;
/** Jobs on a VM's disks (every kind but a datastore's own and the read models' rebuild). */
export type VmJob = Exclude<Job, RestoreQuarantinedJob | RebuildReadModelsJob>;
export const isVmJob = (job: Job): job is VmJob =>
  job.kind !== 'restore-quarantined' && job.kind !== 'rebuild-read-models';
export type CreateDisksJob = Static<typeof CreateDisksJob>;
export type CloneJob = Static<typeof CloneJob>;
export type PowerJob = Static<typeof PowerJob>;
export type SnapshotJob = Static<typeof SnapshotJob>;
export type ForkJob = Static<typeof ForkJob>;
export type PoolImageJob = Static<typeof PoolImageJob>;
export type RefreshJob = Static<typeof RefreshJob>;
export type DeleteVmJob = Static<typeof DeleteVmJob>;
export type ImportJob = Static<typeof ImportJob>;
export type ExportJob = Static<typeof ExportJob>;
export type ImportSource = Static<typeof ImportSource>;

/** The VM a job makes or changes, its datastore, and the disks whose block maps it changes. */
export function jobDisks(job: VmJob): { vmId: string; datastoreId: string; diskIds: string[] } {
  switch (job.kind) {
    case 'clone':
      return {
        vmId: job.targetVmId,
        datastoreId: job.targetDatastoreId,
        diskIds: job.disks.map((d) => d.diskId),
      };
    case 'fork':
      return {
        vmId: job.targetVmId,
        datastoreId: job.datastoreId,
        diskIds: job.disks.map((d) => d.diskId),
      };
    case 'pool-image': {
      // Its first parent stands for the image's block maps (the others share its replica's).
      const [parent] = job.parents;
      return { vmId: parent.parentVmId, datastoreId: parent.datastoreId, diskIds: parent.diskIds };
    }
    case 'create-disks':
    case 'snapshot':
      return {
        vmId: job.vmId,
        datastoreId: job.datastoreId,
        diskIds: job.disks.map((d) => d.diskId),
      };
    case 'power':
    case 'refresh':
    case 'delete-vm':
      return { vmId: job.vmId, datastoreId: job.datastoreId, diskIds: job.diskIds };
    case 'import':
    case 'export':
      return {
        vmId: job.vmId,
        datastoreId: job.datastoreId,
        diskIds: job.disks.map((d) => d.diskId),
      };
  }
}
