import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { HardwareVersionSchema, InventoryName, Sha256, StringEnum, Uuid } from '../shared/schema';

export const VM_ROLES = [
  'vm',
  'template',
  'golden-image',
  'internal-template',
  'replica',
  'parent',
  'instant-clone',
] as const;
export const VmRole = StringEnum(
  VM_ROLES,
  'What the machine is for: a plain VM, a template, or one of the roles of the instant-clone chain ' +
    '(golden image → internal template → replica → parent → instant clone).',
);
export type VmRole = Static<typeof VmRole>;

export const POWER_STATES = ['poweredOff', 'poweredOn', 'suspended'] as const;
export const PowerState = StringEnum(POWER_STATES, 'Power state, as vSphere names it.');
export type PowerState = Static<typeof PowerState>;

export const DISK_FORMATS = ['thin', 'thick-lazy-zeroed', 'thick-eager-zeroed'] as const;
export const DiskFormat = StringEnum(
  DISK_FORMATS,
  'thin: space on first write; thick-lazy-zeroed: full capacity reserved at creation, zeroed on first ' +
    'write; thick-eager-zeroed: every block written with zeros at creation.',
);
export type DiskFormat = Static<typeof DiskFormat>;

/** qcow2 images (and vSphere disks) are sized in whole sectors. */
export const SECTOR_BYTES = 512;

export const VirtualHardware = Type.Object(
  {
    vcpus: Type.Integer({ minimum: 1, maximum: 768, description: 'Virtual CPUs.' }),
    memoryBytes: Type.Integer({
      minimum: 4 * 1024 * 1024,
      maximum: 24 * 1024 ** 4,
      multipleOf: 1024 * 1024,
      description: 'Memory, a whole number of MiB. In bytes.',
    }),
    hardwareVersion: HardwareVersionSchema,
    guestOs: Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'Guest OS identifier (e.g. ubuntu64Guest).',
    }),
  },
  { additionalProperties: false },
);
export type VirtualHardware = Static<typeof VirtualHardware>;

export const VirtualDisk = Type.Object(
  {
    diskId: Uuid('The disk, unique across the inventory.'),
    label: Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'Label in the VM (Hard disk 1).',
    }),
    capacityBytes: Type.Integer({
      minimum: 1024 * 1024,
      maximum: 62 * 1024 ** 4,
      multipleOf: SECTOR_BYTES,
      description: 'Capacity the guest sees, a whole number of 512-byte sectors. In bytes.',
    }),
    format: DiskFormat,
  },
  { additionalProperties: false },
);
export type VirtualDisk = Static<typeof VirtualDisk>;

export const Nic = Type.Object(
  {
    macAddress: Type.String({
      pattern: '^([0-9a-f]{2}:){5}[0-9a-f]{2}$',
      description: 'MAC address, lower-case, colon-separated; unique to this VM.',
    }),
    network: Type.String({ minLength: 1, maxLength: 80, description: 'Port group the NIC is on.' }),
  },
  { additionalProperties: false },
);
export type Nic = Static<typeof Nic>;

const vmId = Uuid('The VM.');
const taskId = Uuid('The task doing the work.');
const failure = {
  code: Type.String({ minLength: 1, description: 'Stable code of the reason.' }),
  message: Type.String({ description: 'The reason, for humans.' }),
};

export const DiskPlacement = Type.Object(
  {
    diskId: Uuid('The disk.'),
    layerId: Type.String({ minLength: 1, description: 'The layer its writes go to (its top).' }),
    allocatedBytes: Type.Integer({
      minimum: 0,
      description: 'Bytes its own layer takes on the datastore. In bytes.',
    }),
  },
  { additionalProperties: false },
);
export type DiskPlacement = Static<typeof DiskPlacement>;

export const CLONE_FORMATS = ['same', ...DISK_FORMATS] as const;
export const CloneFormat = StringEnum(
  CLONE_FORMATS,
  'Disk format of a full copy: same as the source, or one of the three.',
);
export type CloneFormat = Static<typeof CloneFormat>;

/** What an import's disks become: as the package has them, or one of the three. */
export const IMPORT_DISK_FORMATS = ['as-in-package', ...DISK_FORMATS] as const;

export const VmOrigin = Type.Union(
  [
    Type.Object({ kind: Type.Literal('new') }, { additionalProperties: false }),
    Type.Object(
      {
        kind: Type.Literal('clone'),
        sourceVmId: Uuid('The VM or template it is a copy of.'),
        snapshotId: Type.Union([Uuid('The snapshot a linked clone stands on.'), Type.Null()]),
        linked: Type.Boolean({
          description: 'A new delta over the source (no copy), or a full copy.',
        }),
        format: CloneFormat,
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        kind: Type.Literal('fork'),
        parentVmId: Uuid('The running parent it was forked from.'),
        replicaVmId: Type.Union(
          [Uuid('The replica it stays linked to (the parent may go).'), Type.Null()],
          {
            description:
              'The replica it stays linked to, so the parent may go; null when the parent stands on no replica.',
          },
        ),
        poolId: Type.Union([Uuid('The pool it belongs to.'), Type.Null()]),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        kind: Type.Literal('import'),
        packageName: Type.String({
          minLength: 1,
          maxLength: 255,
          description: 'The OVA or OVF it was imported from, as the caller named it.',
        }),
        descriptorSha256: Sha256('The OVF descriptor validated before the import.'),
      },
      { additionalProperties: false },
    ),
  ],
  { description: 'How the VM came to be.' },
);
export type VmOrigin = Static<typeof VmOrigin>;

export const VmCreatedData = Type.Object(
  {
    vmId,
    name: InventoryName('Display name, unique in its folder.'),
    folder: Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: '^/',
      description: 'Inventory folder (/Datacenter/vm/web).',
    }),
    role: VmRole,
    hostId: Uuid('Host the VM is registered on.'),
    datastoreId: Uuid('Datastore holding its files.'),
    hardware: VirtualHardware,
    disks: Type.Array(VirtualDisk, { maxItems: 64 }),
    nics: Type.Array(Nic, { maxItems: 10 }),
    biosUuid: Uuid('SMBIOS UUID the guest sees; a clone gets a new one.'),
    origin: VmOrigin,
    provisioningTaskId: Type.Union([taskId, Type.Null()], {
      description: 'The task making its disks; null when it has none.',
    }),
    poolId: Type.Union([Uuid('The pool that made it.'), Type.Null()], {
      description:
        'The pool that made it and alone changes it (its internal template, replicas, parents and desktops); null for a VM people made, an instant clone forked by hand included.',
    }),
  },
  {
    additionalProperties: false,
    description: 'A VM or template joined the inventory, powered off; its disks are being made.',
  },
);

export const VmProvisionedData = Type.Object(
  { vmId, taskId, disks: Type.Array(DiskPlacement) },
  {
    additionalProperties: false,
    description: "A new VM's disks exist on its datastore: it is ready.",
  },
);
export const VmClonedData = Type.Object(
  {
    vmId,
    taskId,
    sourceVmId: Uuid('The VM or template it was copied from.'),
    linked: Type.Boolean(),
    disks: Type.Array(DiskPlacement),
  },
  {
    additionalProperties: false,
    description:
      "A clone's disks exist: the copy (or the new delta) is complete and the clone is ready.",
  },
);
export const VmProvisioningFailedData = Type.Object(
  { vmId, taskId, ...failure },
  {
    additionalProperties: false,
    description:
      'Making the disks failed or was cancelled: the VM never came to be and nothing of it is left.',
  },
);
export const VmBeingClonedData = Type.Object(
  {
    vmId,
    taskId,
    targetVmId: Uuid('The clone.'),
    linked: Type.Boolean(),
    snapshotId: Type.Union([Uuid('The snapshot copied (or stood on).'), Type.Null()]),
    format: CloneFormat,
  },
  {
    additionalProperties: false,
    description: 'A clone of this VM or template started; it cannot be deleted meanwhile.',
  },
);
export const VmCloneFinishedData = Type.Object(
  {
    vmId,
    taskId,
    targetVmId: Uuid('The clone.'),
    outcome: StringEnum(['succeeded', 'failed', 'cancelled'] as const, 'How the clone ended.'),
    linked: Type.Boolean({
      description: 'A linked clone that succeeded now stands on this VM’s layers.',
    }),
  },
  { additionalProperties: false, description: 'A clone of this VM or template ended.' },
);
export const VmPowerChangeRequestedData = Type.Object(
  {
    vmId,
    taskId,
    to: PowerState,
    forced: Type.Boolean({
      description:
        "An admin acted on a pool's desktop outside its pool (force), overriding the pool's protection; false otherwise.",
    }),
  },
  {
    additionalProperties: false,
    description: 'A power operation started; the VM takes no other operation until it ends.',
  },
);
export const LiveExport = Type.Object(
  {
    imageId: Type.String({ minLength: 1, description: 'The disk (or memory image) exported.' }),
    uri: Type.String({
      minLength: 1,
      description: 'NBD URI (nbd+unix:///name?socket=... or nbd://127.0.0.1:port/name).',
    }),
    writable: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type LiveExport = Static<typeof LiveExport>;
export const VmForkedData = Type.Object(
  {
    vmId,
    taskId,
    disks: Type.Array(DiskPlacement, {
      description: 'Its copy-on-write overlays of the parent’s frozen disks.',
    }),
    workerId: Type.String({
      minLength: 1,
      description: 'The worker whose storage daemon holds it.',
    }),
    exports: Type.Array(LiveExport),
    memoryImage: LiveExport,
  },
  {
    additionalProperties: false,
    description:
      'An instant clone was forked from its running parent: no boot, running at once, sharing memory and disks copy-on-write.',
  },
);
export const VmForkStartedData = Type.Object(
  { vmId, taskId, targetVmId: Uuid('The instant clone being forked.') },
  {
    additionalProperties: false,
    description:
      'An instant clone is being forked from this running VM; it cannot be powered off or deleted meanwhile.',
  },
);
export const VmForkFinishedData = Type.Object(
  {
    vmId,
    taskId,
    targetVmId: Uuid('The instant clone.'),
    outcome: StringEnum(['succeeded', 'failed', 'cancelled'] as const, 'How the fork ended.'),
    exports: Type.Union([Type.Array(LiveExport), Type.Null()], {
      description:
        'Its exports after the fork when this was the first one: its disks were frozen for forking, so they are read-only now; null when unchanged.',
    }),
  },
  { additionalProperties: false, description: 'A fork of this running VM ended.' },
);
export const VmLinkedCloneAttachedData = Type.Object(
  { vmId, dependantVmId: Uuid('The instant clone that now stands on this VM’s layers.') },
  {
    additionalProperties: false,
    description:
      'An instant clone forked from a parent standing on this VM (a replica) stands on it too: it cannot be deleted while the clone lives.',
  },
);
export const VmRefreshRequestedData = Type.Object(
  { vmId, taskId },
  {
    additionalProperties: false,
    description:
      'An instant clone is going back to the state it was forked in (its pool refreshes it at logoff); it takes no other operation meanwhile.',
  },
);
export const VmRefreshedData = Type.Object(
  {
    vmId,
    taskId,
    disks: Type.Array(DiskPlacement, { description: 'Its new, empty overlays.' }),
    exports: Type.Array(LiveExport),
    memoryImage: LiveExport,
  },
  {
    additionalProperties: false,
    description:
      'An instant clone is back at the state it was forked in: its own writes to disks and memory are gone; same name, MAC and identity.',
  },
);
export const VmPoweredOnData = Type.Object(
  {
    vmId,
    taskId,
    resumedFromSuspend: Type.Boolean({
      description: 'True when it resumed from its memory image.',
    }),
    workerId: Type.String({
      minLength: 1,
      description: 'The worker whose storage daemon holds its disks open.',
    }),
    exports: Type.Array(LiveExport, { description: 'Its disks, open and exported over NBD.' }),
    memoryImage: LiveExport,
  },
  {
    additionalProperties: false,
    description:
      'A VM was powered on (or resumed): its disks and memory image are open and exported.',
  },
);
export const VmPoweredOffData = Type.Object(
  { vmId, taskId },
  {
    additionalProperties: false,
    description: 'A VM was powered off: its disks are closed and its memory image is gone.',
  },
);
export const VmHostLostData = Type.Object(
  {
    vmId,
    workerId: Type.String({
      minLength: 1,
      description: 'The worker whose storage daemon held its disks and memory, gone.',
    }),
    memoryImageId: Type.Union([Uuid('Its memory image, left on the datastore.'), Type.Null()]),
  },
  {
    additionalProperties: false,
    description:
      'The host a running VM ran on is gone (its worker no longer answers): the VM is powered off, as a crashed host leaves it; its disks stay on the datastore as last written.',
  },
);
export const VmSuspendedData = Type.Object(
  { vmId, taskId },
  {
    additionalProperties: false,
    description: 'A running VM was suspended: its disks are closed, its memory image is kept.',
  },
);
const snapshotId = Uuid('The snapshot.');
export const SnapshotLayer = Type.Object(
  {
    diskId: Uuid('The disk.'),
    layerId: Type.String({ minLength: 1, description: 'Its frozen layer.' }),
  },
  { additionalProperties: false },
);
export const VmSnapshotRequestedData = Type.Object(
  {
    vmId,
    taskId,
    snapshotId,
    name: Type.String({ minLength: 1, maxLength: 80 }),
    description: Type.String({ maxLength: 1000 }),
  },
  { additionalProperties: false, description: 'Taking a snapshot started.' },
);
export const VmSnapshotTakenData = Type.Object(
  {
    vmId,
    taskId,
    snapshotId,
    name: Type.String({ minLength: 1, maxLength: 80 }),
    description: Type.String({ maxLength: 1000 }),
    parentSnapshotId: Type.Union([snapshotId, Type.Null()]),
    layers: Type.Array(SnapshotLayer, { description: 'Each disk’s layer frozen by the snapshot.' }),
    disks: Type.Array(DiskPlacement, {
      description: 'Each disk’s new delta, where writes now go.',
    }),
  },
  {
    additionalProperties: false,
    description:
      'A snapshot was taken: each disk’s top was frozen and a new delta started over it.',
  },
);
export const VmRevertRequestedData = Type.Object(
  { vmId, taskId, snapshotId },
  { additionalProperties: false, description: 'Reverting to a snapshot started.' },
);
export const VmRevertedToSnapshotData = Type.Object(
  { vmId, taskId, snapshotId, disks: Type.Array(DiskPlacement) },
  {
    additionalProperties: false,
    description: 'The VM’s disks read as at the snapshot again (a fresh delta over it).',
  },
);
export const VmSnapshotDeletionRequestedData = Type.Object(
  { vmId, taskId, snapshotId },
  { additionalProperties: false, description: 'Deleting a snapshot started.' },
);
export const VmSnapshotDeletedData = Type.Object(
  { vmId, taskId, snapshotId },
  {
    additionalProperties: false,
    description: 'A snapshot was deleted; its layers were consolidated into the chain.',
  },
);
export const VmDeletionRequestedData = Type.Object(
  {
    vmId,
    taskId,
    forced: Type.Boolean({
      description:
        "An admin acted on a pool's desktop outside its pool (force), overriding the pool's protection; false otherwise.",
    }),
  },
  { additionalProperties: false, description: 'Deleting a VM or template started.' },
);
export const VmDeletedData = Type.Object(
  { vmId, taskId },
  {
    additionalProperties: false,
    description: 'A VM or template was deleted: its layers went, save those others still stand on.',
  },
);
export const VmTaskFailedData = Type.Object(
  { vmId, taskId, operation: Type.String({ minLength: 1 }), ...failure },
  {
    additionalProperties: false,
    description:
      'An operation on the VM ended without effect (failed or cancelled); nothing of it is left.',
  },
);
export const VmLinkedCloneReleasedData = Type.Object(
  { vmId, dependantVmId: Uuid('The linked clone that no longer stands on this VM.') },
  {
    additionalProperties: false,
    description: 'A linked clone of this VM was deleted or made independent.',
  },
);
export const DiskBlockMap = Type.Object(
  {
    diskId: Uuid('The disk.'),
    topLayerId: Type.String({ minLength: 1 }),
    capacityBytes: Type.Integer({ minimum: 0 }),
    allocatedBytes: Type.Integer({
      minimum: 0,
      description: 'Virtual bytes some layer of its chain holds. In bytes.',
    }),
    extents: Type.Array(
      Type.Object(
        {
          offsetBytes: Type.Integer({ minimum: 0 }),
          lengthBytes: Type.Integer({ minimum: 1 }),
          layerId: Type.String({ description: 'The layer that answers for the range.' }),
          zero: Type.Boolean({
            description: 'Held, but reads as zeros (zero clusters, preallocation).',
          }),
          shared: Type.Boolean({
            description:
              'The layer is read by other disks too (a template, a snapshot a clone stands on).',
          }),
        },
        { additionalProperties: false },
      ),
      { description: 'Allocated ranges, merged, in offset order.' },
    ),
    bytesPerLayer: Type.Array(
      Type.Object(
        {
          layerId: Type.String(),
          mappedBytes: Type.Integer({ minimum: 0 }),
          shared: Type.Boolean(),
        },
        { additionalProperties: false },
      ),
      { description: 'The chain, top first (its lineage), with the bytes each layer answers for.' },
    ),
  },
  { additionalProperties: false },
);
export type DiskBlockMap = Static<typeof DiskBlockMap>;

/**
 * Allocated extents as runs: `count` extents of `lengthBytes`, the first at `offsetBytes` and
 * each `strideBytes` after the one before, all held by the same layer with the same zero flag. A
 * disk written every other 64 KiB is one run, not one entry per extent.
 */
export const BlockMapRun = Type.Object(
  {
    offsetBytes: Type.Integer({ minimum: 0, description: 'Start of the first extent. In bytes.' }),
    lengthBytes: Type.Integer({ minimum: 1, description: 'Length of each extent. In bytes.' }),
    layer: Type.Integer({
      minimum: 0,
      description: 'The layer that answers for the extents: an index into bytesPerLayer.',
    }),
    zero: Type.Boolean({
      description: 'Held, but reads as zeros (zero clusters, preallocation).',
    }),
    count: Type.Integer({ minimum: 1, description: 'How many extents the run holds.' }),
    strideBytes: Type.Integer({
      minimum: 0,
      description:
        'From the start of one extent to the next (more than lengthBytes); 0 when count is 1.',
    }),
  },
  { additionalProperties: false },
);
export type BlockMapRun = Static<typeof BlockMapRun>;

export const DiskBlockMapRuns = Type.Object(
  {
    diskId: Uuid('The disk.'),
    topLayerId: Type.String({ minLength: 1 }),
    capacityBytes: Type.Integer({ minimum: 0 }),
    allocatedBytes: Type.Integer({
      minimum: 0,
      description:
        'Virtual bytes some layer of its chain holds (the whole map, every part). In bytes.',
    }),
    bytesPerLayer: DiskBlockMap.properties.bytesPerLayer,
    runs: Type.Array(BlockMapRun, { description: 'Allocated ranges as runs, in offset order.' }),
    continued: Type.Boolean({
      description:
        'These runs continue the ones an earlier part of the same measure gave for this disk; ' +
        'false: they start its map.',
    }),
  },
  { additionalProperties: false },
);
export type DiskBlockMapRuns = Static<typeof DiskBlockMapRuns>;

export const VmBlockMapsMeasuredData = Type.Object(
  {
    vmId,
    taskId,
    part: Type.Integer({
      minimum: 1,
      description: 'Which part of one measure this is (since v2): a large map is split in parts.',
    }),
    parts: Type.Integer({ minimum: 1, description: 'How many parts the measure has (since v2).' }),
    disks: Type.Array(DiskBlockMapRuns),
  },
  {
    additionalProperties: false,
    description:
      'A worker measured which layer holds each range of the VM’s disks, after changing them.',
  },
);

export const VmRenamedData = Type.Object(
  { vmId, name: InventoryName('New display name.'), previousName: InventoryName('Name before.') },
  { additionalProperties: false, description: 'A VM or template was renamed.' },
);
export const VmConvertedToTemplateData = Type.Object(
  { vmId },
  {
    additionalProperties: false,
    description: 'A powered-off VM became a template; its disk files stay exactly as they are.',
  },
);
export const TemplateConvertedToVmData = Type.Object(
  { vmId },
  {
    additionalProperties: false,
    description:
      'A template became a VM again, so it can be edited; its disk files stay as they are.',
  },
);

/** What an imported package proved about itself, known once the worker read all of it. */
export const PackageProvenance = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 255, description: 'The package, as named.' }),
    descriptorSha256: Sha256('Its OVF descriptor.'),
    manifestSha256: Type.Union([
      Sha256('Its manifest (.mf), every file checked against it.'),
      Type.Null(),
    ]),
    certificate: Type.Union(
      [
        Type.Object(
          {
            subject: Type.String({ maxLength: 1024, description: 'Who signed the manifest.' }),
            fingerprintSha256: Sha256('The signing certificate.'),
          },
          { additionalProperties: false },
        ),
        Type.Null(),
      ],
      { description: 'The certificate that signed its manifest, verified; null: unsigned.' },
    ),
  },
  { additionalProperties: false },
);
export const VmImportedData = Type.Object(
  { vmId, taskId, package: PackageProvenance },
  {
    additionalProperties: false,
    description:
      'An imported VM’s package was read to its end and passed every check (digests, sizes, signature); its disks follow (VmProvisioned).',
  },
);
export const VmExportStartedData = Type.Object(
  {
    vmId,
    taskId,
    snapshotId: Type.Union([Uuid('The snapshot exported.'), Type.Null()], {
      description:
        'The snapshot exported (a running VM); null: its disks as they are (powered off).',
    }),
  },
  {
    additionalProperties: false,
    description: 'Exporting the VM as an OVA started: it stays as it is until the export ends.',
  },
);
export const VmExportFinishedData = Type.Object(
  {
    vmId,
    taskId,
    outcome: StringEnum(['succeeded', 'failed', 'cancelled'] as const, 'How the export ended.'),
  },
  { additionalProperties: false, description: 'The OVA export of the VM ended.' },
);

type E<Type extends string, Schema extends TSchema> = { type: Type; data: Static<Schema> };
export type VmCreated = E<'VmCreated', typeof VmCreatedData>;
export type VmProvisioned = E<'VmProvisioned', typeof VmProvisionedData>;
export type VmCloned = E<'VmCloned', typeof VmClonedData>;
export type VmForked = E<'VmForked', typeof VmForkedData>;
export type VmForkStarted = E<'VmForkStarted', typeof VmForkStartedData>;
export type VmForkFinished = E<'VmForkFinished', typeof VmForkFinishedData>;
export type VmLinkedCloneAttached = E<'VmLinkedCloneAttached', typeof VmLinkedCloneAttachedData>;
export type VmRefreshRequested = E<'VmRefreshRequested', typeof VmRefreshRequestedData>;
export type VmRefreshed = E<'VmRefreshed', typeof VmRefreshedData>;
export type VmProvisioningFailed = E<'VmProvisioningFailed', typeof VmProvisioningFailedData>;
export type VmBeingCloned = E<'VmBeingCloned', typeof VmBeingClonedData>;
export type VmCloneFinished = E<'VmCloneFinished', typeof VmCloneFinishedData>;
export type VmPowerChangeRequested = E<'VmPowerChangeRequested', typeof VmPowerChangeRequestedData>;
export type VmPoweredOn = E<'VmPoweredOn', typeof VmPoweredOnData>;
export type VmPoweredOff = E<'VmPoweredOff', typeof VmPoweredOffData>;
export type VmSuspended = E<'VmSuspended', typeof VmSuspendedData>;
export type VmHostLost = E<'VmHostLost', typeof VmHostLostData>;
export type VmSnapshotRequested = E<'VmSnapshotRequested', typeof VmSnapshotRequestedData>;
export type VmSnapshotTaken = E<'VmSnapshotTaken', typeof VmSnapshotTakenData>;
export type VmRevertRequested = E<'VmRevertRequested', typeof VmRevertRequestedData>;
export type VmRevertedToSnapshot = E<'VmRevertedToSnapshot', typeof VmRevertedToSnapshotData>;
export type VmSnapshotDeletionRequested = E<
  'VmSnapshotDeletionRequested',
  typeof VmSnapshotDeletionRequestedData
>;
export type VmSnapshotDeleted = E<'VmSnapshotDeleted', typeof VmSnapshotDeletedData>;
export type VmDeletionRequested = E<'VmDeletionRequested', typeof VmDeletionRequestedData>;
export type VmDeleted = E<'VmDeleted', typeof VmDeletedData>;
export type VmTaskFailed = E<'VmTaskFailed', typeof VmTaskFailedData>;
export type VmLinkedCloneReleased = E<'VmLinkedCloneReleased', typeof VmLinkedCloneReleasedData>;
export type VmBlockMapsMeasured = E<'VmBlockMapsMeasured', typeof VmBlockMapsMeasuredData>;
export type VmRenamed = E<'VmRenamed', typeof VmRenamedData>;
export type VmConvertedToTemplate = E<'VmConvertedToTemplate', typeof VmConvertedToTemplateData>;
export type TemplateConvertedToVm = E<'TemplateConvertedToVm', typeof TemplateConvertedToVmData>;
export type VmImported = E<'VmImported', typeof VmImportedData>;
export type VmExportStarted = E<'VmExportStarted', typeof VmExportStartedData>;
export type VmExportFinished = E<'VmExportFinished', typeof VmExportFinishedData>;

export type VmEvent =
  | VmCreated
  | VmProvisioned
  | VmCloned
  | VmForked
  | VmForkStarted
  | VmForkFinished
  | VmLinkedCloneAttached
  | VmRefreshRequested
  | VmRefreshed
  | VmProvisioningFailed
  | VmBeingCloned
  | VmCloneFinished
  | VmPowerChangeRequested
  | VmPoweredOn
  | VmPoweredOff
  | VmSuspended
  | VmSnapshotRequested
  | VmSnapshotTaken
  | VmRevertRequested
  | VmRevertedToSnapshot
  | VmSnapshotDeletionRequested
  | VmSnapshotDeleted
  | VmDeletionRequested
  | VmDeleted
  | VmTaskFailed
  | VmLinkedCloneReleased
  | VmBlockMapsMeasured
  | VmRenamed
  | VmConvertedToTemplate
  | TemplateConvertedToVm
  | VmHostLost
  | VmImported
  | VmExportStarted
  | VmExportFinished;

/** Every VM event's schema, for the catalog. */
export const VM_EVENT_SCHEMAS = {
  VmCreated: VmCreatedData,
  VmProvisioned: VmProvisionedData,
  VmCloned: VmClonedData,
  VmForked: VmForkedData,
  VmForkStarted: VmForkStartedData,
  VmForkFinished: VmForkFinishedData,
  VmLinkedCloneAttached: VmLinkedCloneAttachedData,
  VmRefreshRequested: VmRefreshRequestedData,
  VmRefreshed: VmRefreshedData,
  VmProvisioningFailed: VmProvisioningFailedData,
  VmBeingCloned: VmBeingClonedData,
  VmCloneFinished: VmCloneFinishedData,
  VmPowerChangeRequested: VmPowerChangeRequestedData,
  VmPoweredOn: VmPoweredOnData,
  VmPoweredOff: VmPoweredOffData,
  VmHostLost: VmHostLostData,
  VmSuspended: VmSuspendedData,
  VmSnapshotRequested: VmSnapshotRequestedData,
  VmSnapshotTaken: VmSnapshotTakenData,
  VmRevertRequested: VmRevertRequestedData,
  VmRevertedToSnapshot: VmRevertedToSnapshotData,
  VmSnapshotDeletionRequested: VmSnapshotDeletionRequestedData,
  VmSnapshotDeleted: VmSnapshotDeletedData,
  VmDeletionRequested: VmDeletionRequestedData,
  VmDeleted: VmDeletedData,
  VmTaskFailed: VmTaskFailedData,
  VmLinkedCloneReleased: VmLinkedCloneReleasedData,
  VmBlockMapsMeasured: VmBlockMapsMeasuredData,
  VmRenamed: VmRenamedData,
  VmConvertedToTemplate: VmConvertedToTemplateData,
  TemplateConvertedToVm: TemplateConvertedToVmData,
  VmImported: VmImportedData,
  VmExportStarted: VmExportStartedData,
  VmExportFinished: VmExportFinishedData,
} satisfies Record<VmEvent['type'], TSchema>;
