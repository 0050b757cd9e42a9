import { BLOCK_MAPS_END, type DiskBlockMap, type VmEvent, diskBlockMapOf } from '@dolly/domain';
import type { Projection } from '../projection';

/**
 * The block maps workers measured: which layer answers for each range of each disk. Events carry
 * runs of extents (and a large map comes in parts); the read model holds them as extents.
 */
export const blockMapsProjection: Projection = {
  name: 'block-maps',
  tables: ['block_maps'],
  handles: (event) =>
    event.type === 'VmBlockMapsMeasured' || BLOCK_MAPS_END.has(event.type as VmEvent['type']),
  async apply(recorded, target) {
    const event = recorded as unknown as VmEvent;
    const table = target.table('block_maps');
    if (event.type !== 'VmBlockMapsMeasured') {
      await target.query(`DELETE FROM ${table} WHERE vm_id = $1`, [event.data.vmId]);
      return;
    }
    for (const disk of event.data.disks) {
      // A continued part adds its extents to those the earlier parts of the same measure wrote.
      const earlier = disk.continued
        ? (
            (await target.query(`SELECT extents FROM ${table} WHERE vm_id = $1 AND disk_id = $2`, [
              event.data.vmId,
              disk.diskId,
            ])) as { rows: Pick<DiskBlockMap, 'extents'>[] }
          ).rows[0]?.extents
        : undefined;
      const map = diskBlockMapOf(disk, earlier);
      await target.query(
        `INSERT INTO ${table} (vm_id, disk_id, top_layer_id, capacity_bytes, allocated_bytes, extents, bytes_per_layer, measured_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (vm_id, disk_id) DO UPDATE SET top_layer_id = excluded.top_layer_id, capacity_bytes = excluded.capacity_bytes,
           allocated_bytes = excluded.allocated_bytes, extents = excluded.extents, bytes_per_layer = excluded.bytes_per_layer,
           measured_at = excluded.measured_at`,
        [
          event.data.vmId,
          map.diskId,
          map.topLayerId,
          map.capacityBytes,
          map.allocatedBytes,
          JSON.stringify(map.extents),
          JSON.stringify(map.bytesPerLayer),
          recorded.occurredAt,
        ],
      );
    }
  },
};
