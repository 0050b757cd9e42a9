import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { NotFoundError, StringEnum } from '@dolly/domain';
import { PG_POOL, Requires, Validate } from '@dolly/platform';
import { type Static, Type } from '@sinclair/typebox';
import type { Pool } from 'pg';
import { AsOfParam, optionalInstant } from '../../shared/as-of';
import { ApiOk, ApiProblems } from '../../shared/openapi';
import { VmIdParam } from '../vm-id.param';
import { type AsOf, type LineageRow, vmLineage } from './vm-lineage.query';
import { LineageView, lineageNodeView } from './vm-lineage.representation';

export const LineageQuery = Type.Object(
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
export type LineageQuery = Static<typeof LineageQuery>;

/**
 * The lineage of the VMs a subject stands for at the instant asked (a VM itself, or what a disk,
 * layer or package resolves to then), each root followed by its own; at most `limit` VMs in all.
 */
export async function lineageOf(
  pool: Pool,
  subject: LineageView['subject'],
  rootsAt: (asOf: AsOf) => Promise<string[]>,
  query: LineageQuery,
): Promise<LineageView> {
  const direction = query.direction ?? 'ancestors';
  const limit = query.limit ?? 1000;
  const asOf = optionalInstant(query.asOf) ?? null;
  const roots = await rootsAt(asOf);
  const rows: LineageRow[] = [];
  for (const root of roots) {
    if (rows.length > limit) break;
    rows.push(...(await vmLineage(pool, root, direction, asOf, limit + 1 - rows.length)));
  }
  if (rows.length === 0) {
    const what = subject.type === 'vm' ? 'VM' : subject.type;
    throw new NotFoundError(
      `${subject.type.toUpperCase()}.NOT_FOUND`,
      `No ${what} ${subject.id} ${query.asOf ? `had been recorded as of ${query.asOf}` : 'was ever recorded'}`,
    );
  }
  return {
    subject,
    vmId: roots[0],
    direction,
    asOf: query.asOf ?? null,
    nodes: rows.slice(0, limit).map(lineageNodeView),
    truncated: rows.length > limit,
  };
}

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
    return lineageOf(this.pool, { type: 'vm', id: vmId }, async () => [vmId], query);
  }
}
