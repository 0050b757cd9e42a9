import { type VmEvent, extentsOf } from '@dolly/domain';
import type { Projection } from '../projection';

const ENDS = new Set(['VmDeleted', 'VmProvisioningFailed']);

/**
 * The block maps workers measured: which layer answers for each range of each disk. Events carry
 * runs of extents (and a large map comes in parts); the read model holds them as extents.
 */
export const blockMapsProjection: Projection = {
  name: 'block-maps',
  tables: ['block_maps'],
  handles: (event) => event.type === 'VmBlockMapsMeasured' || ENDS.has(event.type),
  async apply(recorded, target) {
    const event = recorded as unknown as VmEvent;
    const table = target.table('block_maps');
    if (event.type !== 'VmBlockMapsMeasured') {
      await target.query(`DELETE FROM ${table} WHERE vm_id = $1`, [event.data.vmId]);
      return;
    }
    for (const disk of event.data.disks) {
      const extents = JSON.stringify(extentsOf(disk.runs, disk.bytesPerLayer));
      // A continued part adds its extents to those the earlier parts of the same measure wrote.
      const merged = disk.continued ? `${table}.extents || excluded.extents` : 'excluded.extents';
      await target.query(
        `INSERT INTO ${table} (vm_id, disk_id, top_layer_id, capacity_bytes, allocated_bytes, extents, bytes_per_layer, measured_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (vm_id, disk_id) DO UPDATE SET top_layer_id = excluded.top_layer_id, capacity_bytes = excluded.capacity_bytes,
           allocated_bytes = excluded.allocated_bytes, extents = ${merged}, bytes_per_layer = excluded.bytes_per_layer,
           measured_at = excluded.measured_at`,
        [
          event.data.vmId,
          disk.diskId,
          disk.topLayerId,
          disk.capacityBytes,
          disk.allocatedBytes,
          extents,
          JSON.stringify(disk.bytesPerLayer),
          recorded.occurredAt,
        ],
      );
    }
  },
};
