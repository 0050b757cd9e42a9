import { CloneFormat, InventoryName, Uuid, VirtualHardware } from '@dolly/domain';
import { type Static, Type } from '@sinclair/typebox';

const common = {
  name: InventoryName('Name of the clone.'),
  folder: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: '^/',
      description: 'Inventory folder; default: the source’s.',
    }),
  ),
  hostId: Type.Optional(Uuid('Host for the clone; default: the source’s.')),
  datastoreId: Type.Optional(Uuid('Datastore for the clone; default: the source’s.')),
  format: Type.Optional({ ...CloneFormat, default: 'same' }),
};

export const CloneVmRequest = Type.Object(
  {
    ...common,
    powerOn: Type.Optional(
      Type.Boolean({ default: false, description: 'Power the clone on when it is made.' }),
    ),
    linked: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'A new delta over the snapshot (createNewChildDiskBacking): no copy.',
      }),
    ),
    snapshotId: Type.Optional(
      Uuid('Clone the VM as at this snapshot (required for a linked clone).'),
    ),
  },
  {
    additionalProperties: false,
    description: 'A copy of a VM, powered on or off (a running source is copied crash-consistent).',
  },
);
export type CloneVmRequest = Static<typeof CloneVmRequest>;

export const CloneToTemplateRequest = Type.Object(common, {
  additionalProperties: false,
  description: 'A template made from a copy of a VM, in the format chosen.',
});
export type CloneToTemplateRequest = Static<typeof CloneToTemplateRequest>;

export const CloneTemplateRequest = Type.Object(
  {
    ...common,
    linked: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Stand on the template’s frozen disks, no copy.',
      }),
    ),
  },
  { additionalProperties: false, description: 'A new template copied from a template.' },
);
export type CloneTemplateRequest = Static<typeof CloneTemplateRequest>;

export const DeployRequest = Type.Object(
  {
    ...common,
    linked: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Stand on the template’s frozen disks, no copy.',
      }),
    ),
    hardware: Type.Optional(
      Type.Object(
        {
          vcpus: Type.Optional(VirtualHardware.properties.vcpus),
          memoryBytes: Type.Optional(VirtualHardware.properties.memoryBytes),
        },
        { additionalProperties: false, description: 'What differs from the template.' },
      ),
    ),
    powerOn: Type.Optional(
      Type.Boolean({ default: false, description: 'Power the VM on when it is made.' }),
    ),
  },
  {
    additionalProperties: false,
    description: 'A VM deployed from a template: a straight copy, no snapshot or consolidation.',
  },
);
export type DeployRequest = Static<typeof DeployRequest>;
