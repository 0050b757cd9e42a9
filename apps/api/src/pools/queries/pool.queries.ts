import { Inject } from '@nestjs/common';
import { NotFoundError } from '@dolly/domain';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { InjectRepository } from '@nestjs/typeorm';
import { PG_POOL } from '@dolly/platform';
import { type Instant, PoolRow, poolsProjection } from '@dolly/read-models';
import type { Pool } from 'pg';
import { Repository } from 'typeorm';
import { pageOfViewsAsOf, viewAsOf } from '../../shared/as-of';
import { type Page, findPage } from '../../shared/pagination';
import { type PoolView, poolView } from './pool.representation';

export class ListPools extends Query<Page<PoolView>> {
  constructor(
    readonly limit: number,
    readonly cursor?: string,
    readonly asOf?: Instant,
  ) {
    super();
  }
}

export class GetPool extends Query<PoolView> {
  constructor(
    readonly poolId: string,
    readonly asOf?: Instant,
  ) {
    super();
  }
}

@QueryHandler(ListPools)
export class ListPoolsHandler implements IQueryHandler<ListPools> {
  constructor(
    @InjectRepository(PoolRow) private readonly pools: Repository<PoolRow>,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  execute({ limit, cursor, asOf }: ListPools): Promise<Page<PoolView>> {
    if (asOf) return pageOfViewsAsOf(this.pool, poolsProjection, asOf, { cursor, limit }, poolView);
    return findPage(this.pools, { key: 'poolId', limit, cursor, view: poolView });
  }
}

@QueryHandler(GetPool)
export class GetPoolHandler implements IQueryHandler<GetPool> {
  constructor(
    @InjectRepository(PoolRow) private readonly pools: Repository<PoolRow>,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  async execute({ poolId, asOf }: GetPool): Promise<PoolView> {
    if (asOf) {
      const then = await viewAsOf(this.pool, poolsProjection, asOf, poolId, poolView);
      if (!then) throw new NotFoundError('POOL.NOT_FOUND', `Pool ${poolId} did not exist then`);
      return then;
    }
    const row = await this.pools.findOneBy({ poolId });
    if (!row)
      throw new NotFoundError(
        'POOL.NOT_FOUND',
        `Pool ${poolId} does not exist (or is not projected yet)`,
      );
    return poolView(row);
  }
}
