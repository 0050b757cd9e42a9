import { type Static, Type } from '@sinclair/typebox';
import { HardwareVersionSchema, InventoryName, StringEnum, Uuid } from '../shared/schema';

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
  },
  { additionalProperties: false, description: 'A VM was created, powered off.' },
);

export const VmPoweredOnData = Type.Object(
  {
    vmId,
    resumedFromSuspend: Type.Boolean({
      description: 'True when it resumed from its memory image.',
    }),
  },
  { additionalProperties: false, description: 'A VM was powered on (or resumed).' },
);
export const VmPoweredOffData = Type.Object(
  { vmId },
  {
    additionalProperties: false,
    description: 'A VM was powered off; a suspended VM drops its memory image.',
  },
);
export const VmSuspendedData = Type.Object(
  { vmId },
  {
    additionalProperties: false,
    description: 'A running VM was suspended; its memory image is kept.',
  },
);
export const VmRenamedData = Type.Object(
  { vmId, name: InventoryName('New display name.'), previousName: InventoryName('Name before.') },
  { additionalProperties: false, description: 'A VM or template was renamed.' },
);
export const VmDeletedData = Type.Object(
  { vmId },
  { additionalProperties: false, description: 'A VM or template was deleted from the inventory.' },
);
export const VmConvertedToTemplateData = Type.Object(
  { vmId },
  {
    additionalProperties: false,
    description: 'A powered-off VM became a template; its disk files stay as they are.',
  },
);
export const TemplateConvertedToVmData = Type.Object(
  { vmId },
  {
    additionalProperties: false,
    description: 'A template became a VM again, so it can be edited.',
  },
);

export type VmCreated = { type: 'VmCreated'; data: Static<typeof VmCreatedData> };
export type VmPoweredOn = { type: 'VmPoweredOn'; data: Static<typeof VmPoweredOnData> };
export type VmPoweredOff = { type: 'VmPoweredOff'; data: Static<typeof VmPoweredOffData> };
export type VmSuspended = { type: 'VmSuspended'; data: Static<typeof VmSuspendedData> };
export type VmRenamed = { type: 'VmRenamed'; data: Static<typeof VmRenamedData> };
export type VmDeleted = { type: 'VmDeleted'; data: Static<typeof VmDeletedData> };
export type VmConvertedToTemplate = {
  type: 'VmConvertedToTemplate';
  data: Static<typeof VmConvertedToTemplateData>;
};
export type TemplateConvertedToVm = {
  type: 'TemplateConvertedToVm';
  data: Static<typeof TemplateConvertedToVmData>;
};

export type VmEvent =
  | VmCreated
  | VmPoweredOn
  | VmPoweredOff
  | VmSuspended
  | VmRenamed
  | VmDeleted
  | VmConvertedToTemplate
  | TemplateConvertedToVm;
