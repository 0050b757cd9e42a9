import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { AsOfPageQuery, AsOfQuery, optionalInstant } from '../../shared/as-of';
import { ApiOk, ApiProblems } from '../../shared/openapi';
import { type Page, pageSchema } from '../../shared/pagination';
import { PoolIdParam } from '../pool-id.param';
import { GetPool, ListPools } from './pool.queries';
import { PoolView } from './pool.representation';

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
  @ApiQuery({ name: 'asOf', required: false, description: 'As it was at this instant.' })
  @ApiOk(pageSchema(PoolView))
  @ApiProblems(400)
  list(@Query(new Validate(AsOfPageQuery)) query: AsOfPageQuery): Promise<Page<PoolView>> {
    return this.queries.execute(
      new ListPools(query.limit ?? 50, query.cursor, optionalInstant(query.asOf)),
    );
  }

  @Get(':poolId')
  @Requires('inventory:read')
  @ApiOperation({ summary: 'One pool, its chain and its machines.' })
  @ApiQuery({ name: 'asOf', required: false, description: 'As it was at this instant.' })
  @ApiOk(PoolView)
  @ApiProblems(400, 404)
  async get(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Query(new Validate(AsOfQuery)) query: AsOfQuery,
    @Res({ passthrough: true }) response: Response,
  ): Promise<PoolView> {
    const pool = await this.queries.execute(new GetPool(poolId, optionalInstant(query.asOf)));
    response.setHeader('ETag', `"${pool.version}"`);
    return pool;
  }
}
