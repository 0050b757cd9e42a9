import { NotFoundError } from '@dolly/domain';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { InjectRepository } from '@nestjs/typeorm';
import { VmRow } from '@dolly/read-models';
import { Repository } from 'typeorm';
import { type Reader } from '../../shared/live-disk-access';
import { type Page, findPage } from '../../shared/pagination';
import { type VmView, vmView } from './vm.representation';

export interface VmFilter {
  role?: string;
  powerState?: string;
  hostId?: string;
  datastoreId?: string;
}

export class ListVms extends Query<Page<VmView>> {
  constructor(
    readonly filter: VmFilter,
    readonly limit: number,
    readonly cursor: string | undefined,
    readonly reader: Reader,
  ) {
    super();
  }
}

export class GetVm extends Query<VmView> {
  constructor(
    readonly vmId: string,
    readonly reader: Reader,
  ) {
    super();
  }
}

@QueryHandler(ListVms)
export class ListVmsHandler implements IQueryHandler<ListVms> {
  constructor(@InjectRepository(VmRow) private readonly vms: Repository<VmRow>) {}

  execute({ filter, limit, cursor, reader }: ListVms): Promise<Page<VmView>> {
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
  constructor(@InjectRepository(VmRow) private readonly vms: Repository<VmRow>) {}

  async execute({ vmId, reader }: GetVm): Promise<VmView> {
    const row = await this.vms.findOneBy({ vmId });
    if (!row)
      throw new NotFoundError(
        'VM.NOT_FOUND',
        `VM ${vmId} does not exist (or is not projected yet)`,
      );
    return vmView(row, reader);
  }
}
