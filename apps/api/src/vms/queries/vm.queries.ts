import { Inject } from '@nestjs/common';
import { NotFoundError } from '@dolly/domain';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { InjectRepository } from '@nestjs/typeorm';
import { PG_POOL } from '@dolly/platform';
import { type Instant, VmRow, vmsProjection } from '@dolly/read-models';
import type { Pool } from 'pg';
import { Repository } from 'typeorm';
import { type Reader } from '../../shared/live-disk-access';
import { pageOfViewsAsOf, viewAsOf } from '../../shared/as-of';
import { type Page, findPage } from '../../shared/pagination';
import { type VmView, vmView } from './vm.representation';

export interface VmFilter {
  role?: string;
  powerState?: string;
  hostId?: string;
  datastoreId?: string;
}

/** The filters' columns in the read model (and in a row folded as of an instant). */
const FILTER_COLUMNS: Record<keyof VmFilter, string> = {
  role: 'role',
  powerState: 'power_state',
  hostId: 'host_id',
  datastoreId: 'datastore_id',
};

export class ListVms extends Query<Page<VmView>> {
  constructor(
    readonly filter: VmFilter,
    readonly limit: number,
    readonly cursor: string | undefined,
    readonly reader: Reader,
    readonly asOf?: Instant,
  ) {
    super();
  }
}

export class GetVm extends Query<VmView> {
  constructor(
    readonly vmId: string,
    readonly reader: Reader,
    readonly asOf?: Instant,
  ) {
    super();
  }
}

@QueryHandler(ListVms)
export class ListVmsHandler implements IQueryHandler<ListVms> {
  constructor(
    @InjectRepository(VmRow) private readonly vms: Repository<VmRow>,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  async execute({ filter, limit, cursor, reader, asOf }: ListVms): Promise<Page<VmView>> {
    if (asOf) {
      const wanted = Object.entries(filter).filter(([, value]) => value !== undefined);
      return pageOfViewsAsOf(
        this.pool,
        vmsProjection,
        asOf,
        {
          cursor,
          limit,
          keep: (row) =>
            wanted.every(
              ([name, value]) => row.columns[FILTER_COLUMNS[name as keyof VmFilter]] === value,
            ),
        },
        (row: VmRow) => vmView(row, reader),
      );
    }
    return findPage(this.vms, {
      where: filter,
      key: 'vmId',
      limit,
      cursor,
      view: (row) => vmView(row, reader),
    });
  }
}

@QueryHandler(GetVm)
export class GetVmHandler implements IQueryHandler<GetVm> {
  constructor(
    @InjectRepository(VmRow) private readonly vms: Repository<VmRow>,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  async execute({ vmId, reader, asOf }: GetVm): Promise<VmView> {
    if (asOf) {
      const then = await viewAsOf(this.pool, vmsProjection, asOf, vmId, (row: VmRow) =>
        vmView(row, reader),
      );
      if (!then)
        throw new NotFoundError('VM.NOT_FOUND', `VM ${vmId} did not exist at that instant`);
      return then;
    }
    const row = await this.vms.findOneBy({ vmId });
    if (!row)
      throw new NotFoundError(
        'VM.NOT_FOUND',
        `VM ${vmId} does not exist (or is not projected yet)`,
      );
    return vmView(row, reader);
  }
}
