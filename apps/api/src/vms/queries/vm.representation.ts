import { Nic, PowerState, VirtualDisk, VirtualHardware, VmRole } from '@dolly/domain';
import type { VmRow } from '@dolly/read-models';
import { type Static, Type } from '@sinclair/typebox';

export const VmView = Type.Object(
  {
    vmId: Type.String({ format: 'uuid' }),
    name: Type.String(),
    folder: Type.String(),
    role: VmRole,
    powerState: PowerState,
    hostId: Type.String({ format: 'uuid' }),
    datastoreId: Type.String({ format: 'uuid' }),
    hardware: VirtualHardware,
    disks: Type.Array(VirtualDisk),
    nics: Type.Array(Nic),
    biosUuid: Type.String({ format: 'uuid' }),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
    version: Type.Integer({
      description: 'Stream version; send it back in If-Match to change the VM only if unchanged.',
    }),
  },
  { description: 'A VM or template as the inventory shows it.' },
);
export type VmView = Static<typeof VmView>;

export function vmView(row: VmRow): VmView {
  return {
    vmId: row.vmId,
    name: row.name,
    folder: row.folder,
    role: row.role as VmView['role'],
    powerState: row.powerState as VmView['powerState'],
    hostId: row.hostId,
    datastoreId: row.datastoreId,
    hardware: {
      vcpus: row.vcpus,
      memoryBytes: row.memoryBytes,
      hardwareVersion: row.hardwareVersion as `vmx-${number}`,
      guestOs: row.guestOs,
    },
    disks: row.disks as VmView['disks'],
    nics: row.nics as VmView['nics'],
    biosUuid: row.biosUuid,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    version: row.version,
  };
}
