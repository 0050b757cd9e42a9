import type { RecordedEvent } from '@dolly/contracts';
import type { DatastoreEvent, HostEvent, VmEvent } from '@dolly/domain';
import { type Projection, type ProjectionTarget } from '../projection';

type InventoryEvent = HostEvent | DatastoreEvent | VmEvent;

const INVENTORY_TYPES = new Set<string>([
  'HostRegistered',
  'DatastoreRegistered',
  'VmCreated',
  'VmPoweredOn',
  'VmPoweredOff',
  'VmSuspended',
  'VmRenamed',
  'VmDeleted',
  'VmConvertedToTemplate',
  'TemplateConvertedToVm',
] satisfies InventoryEvent['type'][]);

async function setVm(
  target: ProjectionTarget,
  recorded: RecordedEvent,
  assignments: string,
  values: unknown[],
): Promise<void> {
  const vmId = (recorded.data as { vmId: string }).vmId;
  await target.query(
    `UPDATE ${target.table('vms')} SET ${assignments}, updated_at = $2, version = $3 WHERE vm_id = $1`,
    [vmId, recorded.occurredAt, recorded.streamVersion, ...values],
  );
}

/** Hosts, datastores and VMs as the inventory shows them now. */
export const inventoryProjection: Projection = {
  name: 'inventory',
  tables: ['hosts', 'datastores', 'vms'],
  handles: (event) => INVENTORY_TYPES.has(event.type),
  async apply(recorded, target) {
    const event = recorded as unknown as InventoryEvent;
    switch (event.type) {
      case 'HostRegistered': {
        const h = event.data;
        await target.query(
          `INSERT INTO ${target.table('hosts')}
             (host_id, name, cpu_cores, memory_bytes, max_hardware_version, management, registered_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`,
          [
            h.hostId,
            h.name,
            h.cpuCores,
            h.memoryBytes,
            h.maxHardwareVersion,
            h.management,
            recorded.occurredAt,
          ],
        );
        return;
      }
      case 'DatastoreRegistered': {
        const d = event.data;
        await target.query(
          `INSERT INTO ${target.table('datastores')}
             (datastore_id, name, capacity_bytes, folder, overcommit_ratio, registered_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $6)`,
          [
            d.datastoreId,
            d.name,
            d.capacityBytes,
            d.folder,
            d.overcommitRatio,
            recorded.occurredAt,
          ],
        );
        return;
      }
      case 'VmCreated': {
        const v = event.data;
        await target.query(
          `INSERT INTO ${target.table('vms')}
             (vm_id, name, folder, role, power_state, host_id, datastore_id, vcpus, memory_bytes, hardware_version,
              guest_os, bios_uuid, disks, nics, created_at, updated_at, version)
           VALUES ($1, $2, $3, $4, 'poweredOff', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15)`,
          [
            v.vmId,
            v.name,
            v.folder,
            v.role,
            v.hostId,
            v.datastoreId,
            v.hardware.vcpus,
            v.hardware.memoryBytes,
            v.hardware.hardwareVersion,
            v.hardware.guestOs,
            v.biosUuid,
            JSON.stringify(v.disks),
            JSON.stringify(v.nics),
            recorded.occurredAt,
            recorded.streamVersion,
          ],
        );
        return;
      }
      case 'VmPoweredOn':
        return setVm(target, recorded, `power_state = 'poweredOn'`, []);
      case 'VmPoweredOff':
        return setVm(target, recorded, `power_state = 'poweredOff'`, []);
      case 'VmSuspended':
        return setVm(target, recorded, `power_state = 'suspended'`, []);
      case 'VmRenamed':
        return setVm(target, recorded, 'name = $4', [event.data.name]);
      case 'VmConvertedToTemplate':
        return setVm(target, recorded, `role = 'template'`, []);
      case 'TemplateConvertedToVm':
        return setVm(target, recorded, `role = 'vm'`, []);
      case 'VmDeleted':
        await target.query(`DELETE FROM ${target.table('vms')} WHERE vm_id = $1`, [
          event.data.vmId,
        ]);
        return;
    }
  },
};
