import { NotFoundError } from '@dolly/domain';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { InjectRepository } from '@nestjs/typeorm';
import { PoolRow } from '@dolly/read-models';
import { Repository } from 'typeorm';
import { type Page, findPage } from '../../shared/pagination';
import { type PoolView, poolView } from './pool.representation';

export class ListPools extends Query<Page<PoolView>> {
  constructor(
    readonly limit: number,
    readonly cursor?: string,
  ) {
    super();
  }
}

export class GetPool extends Query<PoolView> {
  constructor(readonly poolId: string) {
    super();
  }
}

@QueryHandler(ListPools)
export class ListPoolsHandler implements IQueryHandler<ListPools> {
  constructor(@InjectRepository(PoolRow) private readonly pools: Repository<PoolRow>) {}

  execute({ limit, cursor }: ListPools): Promise<Page<PoolView>> {
    return findPage(this.pools, { key: 'poolId', limit, cursor, view: poolView });
  }
}

@QueryHandler(GetPool)
export class GetPoolHandler implements IQueryHandler<GetPool> {
  constructor(@InjectRepository(PoolRow) private readonly pools: Repository<PoolRow>) {}

  async execute({ poolId }: GetPool): Promise<PoolView> {
    const row = await this.pools.findOneBy({ poolId });
    if (!row)
      throw new NotFoundError(
        'POOL.NOT_FOUND',
        `Pool ${poolId} does not exist (or is not projected yet)`,
      );
    return poolView(row);
  }
}
