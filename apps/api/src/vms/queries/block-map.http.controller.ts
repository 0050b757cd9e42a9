import { Controller, Get, Param } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { InjectRepository } from '@nestjs/typeorm';
import { DiskBlockMap, NotFoundError, Uuid } from '@dolly/domain';
import { Requires, Validate } from '@dolly/platform';
import { BlockMapRow } from '@dolly/read-models';
import { Type } from '@sinclair/typebox';
import { Repository } from 'typeorm';
import { ApiOk, ApiProblems } from '../../shared/openapi';
import { VmIdParam } from '../vm-id.param';

const BlockMapView = Type.Composite(
  [DiskBlockMap, Type.Object({ measuredAt: Type.String({ format: 'date-time' }) })],
  {
    description:
      'Which layer holds each allocated range of a disk (like qemu-img map and rbd du), as a worker last measured it.',
  },
);

@ApiTags('vms')
@ApiBearerAuth()
@Controller('vms/:vmId/disks/:diskId')
export class BlockMapController {
  constructor(@InjectRepository(BlockMapRow) private readonly maps: Repository<BlockMapRow>) {}

  @Get('block-map')
  @Requires('inventory:read')
  @ApiOperation({
    summary:
      "A disk's block map: compact extents with the layer that holds each, own or shared, and bytes per layer (its lineage, top first).",
  })
  @ApiOk(BlockMapView)
  @ApiProblems(400, 404)
  async get(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Param('diskId', new Validate(Uuid('The disk.'))) diskId: string,
  ) {
    const row = await this.maps.findOneBy({ vmId, diskId });
    if (!row)
      throw new NotFoundError(
        'BLOCK_MAP.NOT_MEASURED',
        `No block map of disk ${diskId} of VM ${vmId} (no such disk, or not measured yet)`,
      );
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
