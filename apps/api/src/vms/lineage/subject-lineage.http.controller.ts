import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { LayerId, Sha256, Uuid } from '@dolly/domain';
import { PG_POOL, Requires, Validate } from '@dolly/platform';
import type { Pool } from 'pg';
import { ApiOk, ApiProblems } from '../../shared/openapi';
import { LineageQuery, lineageOf } from './vm-lineage.http.controller';
import { type LineageSubject, lineageRoots } from './vm-lineage.query';
import { LineageView } from './vm-lineage.representation';

/**
 * The lineage of a disk (the VM made with it), a layer (the VM that wrote it first or froze it)
 * or a package (every VM and template imported from it, by its descriptor's digest), now or at an
 * instant: what they resolve to then, and that VM's lineage (its ancestors, or everything that
 * derives from it: every clone of a package's appliance, say).
 */
@ApiTags('vms')
@ApiBearerAuth()
@Controller()
export class SubjectLineageController {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  private lineage(subject: LineageSubject, id: string, query: LineageQuery) {
    return lineageOf(
      this.pool,
      { type: subject, id },
      (asOf) => lineageRoots(this.pool, subject, id, asOf),
      query,
    );
  }

  @Get('disks/:diskId/lineage')
  @Requires('inventory:read')
  @ApiOperation({ summary: 'A disk’s lineage: its VM’s, as it was at an instant (asOf).' })
  @ApiOk(LineageView)
  @ApiProblems(400, 404)
  disk(
    @Param('diskId', new Validate(Uuid('The disk.'))) diskId: string,
    @Query(new Validate(LineageQuery)) query: LineageQuery,
  ): Promise<LineageView> {
    return this.lineage('disk', diskId, query);
  }

  @Get('layers/:layerId/lineage')
  @Requires('inventory:read')
  @ApiOperation({
    summary:
      'A layer’s lineage: the VM that wrote it (or froze it in a snapshot), up to where it came from or down to every VM standing on it.',
  })
  @ApiOk(LineageView)
  @ApiProblems(400, 404)
  layer(
    @Param('layerId', new Validate(LayerId('The layer.'))) layerId: string,
    @Query(new Validate(LineageQuery)) query: LineageQuery,
  ): Promise<LineageView> {
    return this.lineage('layer', layerId, query);
  }

  @Get('packages/:descriptorSha256/lineage')
  @Requires('inventory:read')
  @ApiOperation({
    summary:
      'A package’s lineage (by its OVF descriptor’s SHA-256): every VM and template imported from it, and with direction=descendants everything that derives from them.',
  })
  @ApiOk(LineageView)
  @ApiProblems(400, 404)
  package(
    @Param('descriptorSha256', new Validate(Sha256('The package’s OVF descriptor.')))
    descriptorSha256: string,
    @Query(new Validate(LineageQuery)) query: LineageQuery,
  ): Promise<LineageView> {
    return this.lineage('package', descriptorSha256, query);
  }
}
