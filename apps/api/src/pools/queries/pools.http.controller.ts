import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Requires, Validate } from '@dolly/platform';
import { type Static, Type } from '@sinclair/typebox';
import type { Response } from 'express';
import { ApiOk, ApiProblems } from '../../shared/openapi';
import { type Page, PageQuery, pageSchema } from '../../shared/pagination';
import { PoolIdParam } from '../pool-id.param';
import { GetPool, ListPools } from './pool.queries';
import { PoolView } from './pool.representation';

const ListQuery = Type.Object(PageQuery, { additionalProperties: false });
type ListQuery = Static<typeof ListQuery>;

@ApiTags('pools')
@ApiBearerAuth()
@Controller('pools')
export class PoolsController {
  constructor(private readonly queries: QueryBus) {}

  @Get()
  @Requires('inventory:read')
  @ApiOperation({ summary: 'List pools.' })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'cursor', required: false })
  @ApiOk(pageSchema(PoolView))
  @ApiProblems(400)
  list(@Query(new Validate(ListQuery)) query: ListQuery): Promise<Page<PoolView>> {
    return this.queries.execute(new ListPools(query.limit ?? 50, query.cursor));
  }

  @Get(':poolId')
  @Requires('inventory:read')
  @ApiOperation({ summary: 'One pool, its chain and its machines.' })
  @ApiOk(PoolView)
  @ApiProblems(400, 404)
  async get(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Res({ passthrough: true }) response: Response,
  ): Promise<PoolView> {
    const pool = await this.queries.execute(new GetPool(poolId));
    response.setHeader('ETag', `"${pool.version}"`);
    return pool;
  }
}
