import { CloneFormat, InventoryName, Uuid } from '@dolly/domain';
import { type Static, Type } from '@sinclair/typebox';

/** What every copy of a VM or template names: the copy, where it goes, its disk format. */
export const cloneTargetFields = {
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
    ...cloneTargetFields,
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

export const CloneToTemplateRequest = Type.Object(cloneTargetFields, {
  additionalProperties: false,
  description: 'A template made from a copy of a VM, in the format chosen.',
});
export type CloneToTemplateRequest = Static<typeof CloneToTemplateRequest>;
