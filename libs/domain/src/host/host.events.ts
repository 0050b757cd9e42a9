import { type Static, Type } from '@sinclair/typebox';
import { Bytes, HardwareVersionSchema, InventoryName, StringEnum, Uuid } from '../shared/schema';

export const HOST_MANAGEMENT = ['managed', 'standalone'] as const;
export const HostManagement = StringEnum(
  HOST_MANAGEMENT,
  'managed: run by the management plane (vCenter); standalone: a host a host-client speaks to directly.',
);
export type HostManagement = Static<typeof HostManagement>;

export const HostRegisteredData = Type.Object(
  {
    hostId: Uuid('The host.'),
    name: InventoryName('Host name, unique in the inventory.'),
    cpuCores: Type.Integer({ minimum: 1, maximum: 1024, description: 'Physical CPU cores.' }),
    memoryBytes: Bytes('Physical memory.'),
    maxHardwareVersion: HardwareVersionSchema,
    management: HostManagement,
  },
  { additionalProperties: false, description: 'A compute host joined the inventory.' },
);

export type HostRegistered = {
  type: 'HostRegistered';
  data: Static<typeof HostRegisteredData>;
};

export type HostEvent = HostRegistered;
