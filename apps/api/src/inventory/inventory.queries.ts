import { NotFoundError } from '@dolly/domain';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { InjectRepository } from '@nestjs/typeorm';
import { DatastoreRow, HostRow } from '@dolly/read-models';
import { Repository } from 'typeorm';
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
  ) {
    super();
  }
}
export class GetHost extends Query<HostView> {
  constructor(readonly hostId: string) {
    super();
  }
}
export class ListDatastores extends Query<Page<DatastoreView>> {
  constructor(
    readonly limit: number,
    readonly cursor?: string,
  ) {
    super();
  }
}
export class GetDatastore extends Query<DatastoreView> {
  constructor(readonly datastoreId: string) {
    super();
  }
}

@QueryHandler(ListHosts)
export class ListHostsHandler implements IQueryHandler<ListHosts> {
  constructor(@InjectRepository(HostRow) private readonly hosts: Repository<HostRow>) {}

  execute({ limit, cursor }: ListHosts): Promise<Page<HostView>> {
    return findPage(this.hosts, { key: 'hostId', limit, cursor, view: hostView });
  }
}

@QueryHandler(GetHost)
export class GetHostHandler implements IQueryHandler<GetHost> {
  constructor(@InjectRepository(HostRow) private readonly hosts: Repository<HostRow>) {}

  async execute({ hostId }: GetHost): Promise<HostView> {
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
  ) {}

  execute({ limit, cursor }: ListDatastores): Promise<Page<DatastoreView>> {
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
  ) {}

  async execute({ datastoreId }: GetDatastore): Promise<DatastoreView> {
    return datastoreView(await registeredDatastore(this.datastores, datastoreId));
  }
}
