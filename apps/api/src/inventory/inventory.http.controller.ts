import { Controller, Get, Param, Query } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Uuid } from '@dolly/domain';
import { Requires, Validate } from '@dolly/platform';
import { AsOfPageQuery, AsOfQuery, optionalInstant } from '../shared/as-of';
import { ApiOk, ApiProblems } from '../shared/openapi';
import { type Page, pageSchema } from '../shared/pagination';
import {
  GetDatastore,
  GetHost,
  GetQuarantine,
  ListDatastores,
  ListHosts,
} from './inventory.queries';
import { DatastoreView, HostView, QuarantineView } from './inventory.representation';

@ApiTags('hosts')
@ApiBearerAuth()
@Controller('hosts')
export class HostsController {
  constructor(private readonly queries: QueryBus) {}

  @Get()
  @Requires('inventory:read')
  @ApiOperation({ summary: 'List hosts.' })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'cursor', required: false })
  @ApiQuery({ name: 'asOf', required: false, description: 'As it was at this instant.' })
  @ApiOk(pageSchema(HostView))
  @ApiProblems(400)
  list(@Query(new Validate(AsOfPageQuery)) query: AsOfPageQuery): Promise<Page<HostView>> {
    return this.queries.execute(
      new ListHosts(query.limit ?? 50, query.cursor, optionalInstant(query.asOf)),
    );
  }

  @Get(':hostId')
  @Requires('inventory:read')
  @ApiOperation({ summary: 'One host.' })
  @ApiQuery({ name: 'asOf', required: false, description: 'As it was at this instant.' })
  @ApiOk(HostView)
  @ApiProblems(400, 404)
  get(
    @Param('hostId', new Validate(Uuid('The host.'))) hostId: string,
    @Query(new Validate(AsOfQuery)) query: AsOfQuery,
  ): Promise<HostView> {
    return this.queries.execute(new GetHost(hostId, optionalInstant(query.asOf)));
  }
}

@ApiTags('datastores')
@ApiBearerAuth()
@Controller('datastores')
export class DatastoresController {
  constructor(private readonly queries: QueryBus) {}

  @Get()
  @Requires('inventory:read')
  @ApiOperation({ summary: 'List datastores.' })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'cursor', required: false })
  @ApiQuery({ name: 'asOf', required: false, description: 'As it was at this instant.' })
  @ApiOk(pageSchema(DatastoreView))
  @ApiProblems(400)
  list(@Query(new Validate(AsOfPageQuery)) query: AsOfPageQuery): Promise<Page<DatastoreView>> {
    return this.queries.execute(
      new ListDatastores(query.limit ?? 50, query.cursor, optionalInstant(query.asOf)),
    );
  }

  @Get(':datastoreId')
  @Requires('inventory:read')
  @ApiOperation({ summary: 'One datastore.' })
  @ApiQuery({ name: 'asOf', required: false, description: 'As it was at this instant.' })
  @ApiOk(DatastoreView)
  @ApiProblems(400, 404)
  get(
    @Param('datastoreId', new Validate(Uuid('The datastore.'))) datastoreId: string,
    @Query(new Validate(AsOfQuery)) query: AsOfQuery,
  ): Promise<DatastoreView> {
    return this.queries.execute(new GetDatastore(datastoreId, optionalInstant(query.asOf)));
  }

  @Get(':datastoreId/quarantine')
  @Requires('datastores:quarantine')
  @ApiOperation({
    summary: 'What check moved aside on a datastore (admin).',
    description:
      'Quarantined layers (their file in place, refused to every use; restorable once sound) with the disks that read them, and image files no layer named, moved to .dolly/quarantine/. As a worker serving the datastore last saw them.',
  })
  @ApiOk(QuarantineView)
  @ApiProblems(400, 403, 404)
  quarantine(
    @Param('datastoreId', new Validate(Uuid('The datastore.'))) datastoreId: string,
  ): Promise<QuarantineView> {
    return this.queries.execute(new GetQuarantine(datastoreId));
  }
}
