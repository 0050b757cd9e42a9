import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { InjectRepository } from '@nestjs/typeorm';
import { DiskBlockMap, NotFoundError, Uuid } from '@dolly/domain';
import { PG_POOL, Requires, Validate } from '@dolly/platform';
import { type BlockMapAsOf, BlockMapRow, blockMapAsOf } from '@dolly/read-models';
import { Type } from '@sinclair/typebox';
import type { Pool } from 'pg';
import { Repository } from 'typeorm';
import { AsOfQuery, optionalInstant } from '../../shared/as-of';
import { ApiOk, ApiProblems } from '../../shared/openapi';
import { VmIdParam } from '../vm-id.param';

const BlockMapView = Type.Composite(
  [DiskBlockMap, Type.Object({ measuredAt: Type.String({ format: 'date-time' }) })],
  {
    description:
      'Which layer holds each allocated range of a disk (like qemu-img map and rbd du), as a worker last measured it (by then, as of an instant).',
  },
);

@ApiTags('vms')
@ApiBearerAuth()
@Controller('vms/:vmId/disks/:diskId')
export class BlockMapController {
  constructor(
    @InjectRepository(BlockMapRow) private readonly maps: Repository<BlockMapRow>,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  @Get('block-map')
  @Requires('inventory:read')
  @ApiOperation({
    summary:
      "A disk's block map: compact extents with the layer that holds each, own or shared, and bytes per layer (its lineage, top first); now, or as it was at an instant (asOf).",
  })
  @ApiQuery({ name: 'asOf', required: false, description: 'As it was at this instant.' })
  @ApiOk(BlockMapView)
  @ApiProblems(400, 404)
  async get(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Param('diskId', new Validate(Uuid('The disk.'))) diskId: string,
    @Query(new Validate(AsOfQuery)) query: AsOfQuery,
  ): Promise<BlockMapAsOf> {
    const instant = optionalInstant(query.asOf);
    const map = instant
      ? await blockMapAsOf(this.pool, vmId, diskId, instant)
      : await this.live(vmId, diskId);
    if (!map)
      throw new NotFoundError(
        'BLOCK_MAP.NOT_MEASURED',
        `No block map of disk ${diskId} of VM ${vmId}${instant ? ` as of ${query.asOf}` : ''} (no such disk, not measured yet, or its VM gone)`,
      );
    return map;
  }

  private async live(vmId: string, diskId: string): Promise<BlockMapAsOf | null> {
    const row = await this.maps.findOneBy({ vmId, diskId });
    if (!row) return null;
    const { topLayerId, capacityBytes, allocatedBytes, extents, bytesPerLayer } = row;
    return {
      diskId,
      topLayerId,
      capacityBytes,
      allocatedBytes,
      extents,
      bytesPerLayer,
      measuredAt: row.measuredAt.toISOString(),
    };
  }
}
