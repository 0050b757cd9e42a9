import { InventoryName, Nic, Uuid, VirtualDisk, VirtualHardware } from '@dolly/domain';
import { type Static, Type } from '@sinclair/typebox';

export const CreateVmRequest = Type.Object(
  {
    name: InventoryName('Display name.'),
    folder: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 255,
        pattern: '^/',
        default: '/',
        description: 'Inventory folder.',
      }),
    ),
    hostId: Uuid('Host to register the VM on.'),
    datastoreId: Uuid('Datastore for its files.'),
    hardware: VirtualHardware,
    disks: Type.Array(
      Type.Object(
        {
          label: Type.Optional(VirtualDisk.properties.label),
          capacityBytes: VirtualDisk.properties.capacityBytes,
          format: VirtualDisk.properties.format,
        },
        { additionalProperties: false },
      ),
      { maxItems: 64 },
    ),
    nics: Type.Optional(
      Type.Array(
        Type.Object(
          {
            network: Nic.properties.network,
            macAddress: Type.Optional({
              ...Nic.properties.macAddress,
              description: 'Leave out to have one generated.',
            }),
          },
          { additionalProperties: false },
        ),
        { maxItems: 10 },
      ),
    ),
  },
  { additionalProperties: false, description: 'A new VM, created powered off.' },
);
export type CreateVmRequest = Static<typeof CreateVmRequest>;
