import { Inject } from '@nestjs/common';
import { NotFoundError } from '@dolly/domain';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { InjectRepository } from '@nestjs/typeorm';
import { PG_POOL } from '@dolly/platform';
import {
  DatastoreRow,
  HostRow,
  type Instant,
  datastoresProjection,
  hostsProjection,
} from '@dolly/read-models';
import type { Pool } from 'pg';
import { Repository } from 'typeorm';
import { pageOfViewsAsOf, viewAsOf } from '../shared/as-of';
import { type Page, findPage } from '../shared/pagination';
import {
  type DatastoreView,
  type HostView,
  type QuarantineView,
  datastoreView,
  hostView,
  quarantineView,
} from './inventory.representation';

export class ListHosts extends Query<Page<HostView>> {
  constructor(
    readonly limit: number,
    readonly cursor?: string,
    readonly asOf?: Instant,
  ) {
    super();
  }
}
export class GetHost extends Query<HostView> {
  constructor(
    readonly hostId: string,
    readonly asOf?: Instant,
  ) {
    super();
  }
}
export class ListDatastores extends Query<Page<DatastoreView>> {
  constructor(
    readonly limit: number,
    readonly cursor?: string,
    readonly asOf?: Instant,
  ) {
    super();
  }
}
export class GetDatastore extends Query<DatastoreView> {
  constructor(
    readonly datastoreId: string,
    readonly asOf?: Instant,
  ) {
    super();
  }
}

@QueryHandler(ListHosts)
export class ListHostsHandler implements IQueryHandler<ListHosts> {
  constructor(
    @InjectRepository(HostRow) private readonly hosts: Repository<HostRow>,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  execute({ limit, cursor, asOf }: ListHosts): Promise<Page<HostView>> {
    if (asOf) return pageOfViewsAsOf(this.pool, hostsProjection, asOf, { cursor, limit }, hostView);
    return findPage(this.hosts, { key: 'hostId', limit, cursor, view: hostView });
  }
}

@QueryHandler(GetHost)
export class GetHostHandler implements IQueryHandler<GetHost> {
  constructor(
    @InjectRepository(HostRow) private readonly hosts: Repository<HostRow>,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  async execute({ hostId, asOf }: GetHost): Promise<HostView> {
    if (asOf) {
      const then = await viewAsOf(this.pool, hostsProjection, asOf, hostId, hostView);
      if (!then)
        throw new NotFoundError('HOST.NOT_FOUND', `Host ${hostId} was not registered then`);
      return then;
    }
    const row = await this.hosts.findOneBy({ hostId });
    if (!row)
      throw new NotFoundError(
        'HOST.NOT_FOUND',
        `Host ${hostId} is not registered (or not projected yet)`,
      );
    return hostView(row);
  }
}

@QueryHandler(ListDatastores)
export class ListDatastoresHandler implements IQueryHandler<ListDatastores> {
  constructor(
    @InjectRepository(DatastoreRow) private readonly datastores: Repository<DatastoreRow>,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  execute({ limit, cursor, asOf }: ListDatastores): Promise<Page<DatastoreView>> {
    if (asOf)
      return pageOfViewsAsOf(
        this.pool,
        datastoresProjection,
        asOf,
        { cursor, limit },
        datastoreView,
      );
    return findPage(this.datastores, { key: 'datastoreId', limit, cursor, view: datastoreView });
  }
}

async function registeredDatastore(
  datastores: Repository<DatastoreRow>,
  datastoreId: string,
): Promise<DatastoreRow> {
  const row = await datastores.findOneBy({ datastoreId });
  if (!row)
    throw new NotFoundError(
      'DATASTORE.NOT_FOUND',
      `Datastore ${datastoreId} is not registered (or not projected yet)`,
    );
  return row;
}

export class GetQuarantine extends Query<QuarantineView> {
  constructor(readonly datastoreId: string) {
    super();
  }
}

@QueryHandler(GetQuarantine)
export class GetQuarantineHandler implements IQueryHandler<GetQuarantine> {
  constructor(
    @InjectRepository(DatastoreRow) private readonly datastores: Repository<DatastoreRow>,
  ) {}

  async execute({ datastoreId }: GetQuarantine): Promise<QuarantineView> {
    return quarantineView(await registeredDatastore(this.datastores, datastoreId));
  }
}

@QueryHandler(GetDatastore)
export class GetDatastoreHandler implements IQueryHandler<GetDatastore> {
  constructor(
    @InjectRepository(DatastoreRow) private readonly datastores: Repository<DatastoreRow>,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  async execute({ datastoreId, asOf }: GetDatastore): Promise<DatastoreView> {
    if (asOf) {
      const then = await viewAsOf(
        this.pool,
        datastoresProjection,
        asOf,
        datastoreId,
        datastoreView,
      );
      if (!then)
        throw new NotFoundError(
          'DATASTORE.NOT_FOUND',
          `Datastore ${datastoreId} was not registered then`,
        );
      return then;
    }
    return datastoreView(await registeredDatastore(this.datastores, datastoreId));
  }
}
