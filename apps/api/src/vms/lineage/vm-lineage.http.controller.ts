import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { NotFoundError, StringEnum } from '@dolly/domain';
import { PG_POOL, Requires, Validate } from '@dolly/platform';
import { type Static, Type } from '@sinclair/typebox';
import type { Pool } from 'pg';
import { AsOfParam, optionalInstant } from '../../shared/as-of';
import { ApiOk, ApiProblems } from '../../shared/openapi';
import { VmIdParam } from '../vm-id.param';
import { vmLineage } from './vm-lineage.query';
import { LineageView, lineageNodeView } from './vm-lineage.representation';

const LineageQuery = Type.Object(
  {
    direction: Type.Optional(
      StringEnum(
        ['ancestors', 'descendants'] as const,
        'Up to what it came from (default), or down to what derives from it.',
      ),
    ),
    asOf: Type.Optional(AsOfParam),
    limit: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10_000,
        description: 'At most this many VMs (default 1000).',
      }),
    ),
  },
  { additionalProperties: false },
);
type LineageQuery = Static<typeof LineageQuery>;

/**
 * Where a VM came from (instant clone → parent → replica → internal template → golden image →
 * package or created), and what derives from it, now or at an instant: from the audit log, so
 * deleted VMs keep their place in a lineage.
 */
@ApiTags('vms')
@ApiBearerAuth()
@Controller('vms')
export class VmLineageController {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  @Get(':vmId/lineage')
  @Requires('inventory:read')
  @ApiOperation({
    summary:
      'A VM’s lineage: its ancestors up to what it was first made from, or every VM and template that derives from it, as it was at an instant (asOf).',
  })
  @ApiOk(LineageView)
  @ApiProblems(400, 404)
  async lineage(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Query(new Validate(LineageQuery)) query: LineageQuery,
  ): Promise<LineageView> {
    const direction = query.direction ?? 'ancestors';
    const limit = query.limit ?? 1000;
    const rows = await vmLineage(
      this.pool,
      vmId,
      direction,
      optionalInstant(query.asOf) ?? null,
      limit + 1,
    );
    if (rows.length === 0)
      throw new NotFoundError(
        'VM.NOT_FOUND',
        `No VM ${vmId} ${query.asOf ? `had been created as of ${query.asOf}` : 'was ever created'}`,
      );
    return {
      vmId,
      direction,
      asOf: query.asOf ?? null,
      nodes: rows.slice(0, limit).map(lineageNodeView),
      truncated: rows.length > limit,
    };
  }
}
