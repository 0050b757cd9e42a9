import { Body, Controller, Param, Post, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Uuid } from '@dolly/domain';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiJsonBody, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { GetDatastore } from '../../inventory/inventory.queries';
import { RenameDatastoreCommand } from './rename-datastore.handler';
import { RenameDatastoreRequest } from './rename-datastore.request';

@ApiTags('datastores')
@ApiBearerAuth()
@Controller('datastores/:datastoreId')
export class RenameDatastoreController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post('rename')
  @Requires('infrastructure:write')
  @ApiOperation({
    summary: 'Rename a datastore. Renaming to the current name changes nothing (200, no task).',
  })
  @ApiJsonBody(RenameDatastoreRequest)
  @ApiCommand()
  @ApiProblems(400, 404, 413, 415)
  rename(
    @Param('datastoreId', new Validate(Uuid('The datastore.'))) datastoreId: string,
    @Body(new Validate(RenameDatastoreRequest)) body: RenameDatastoreRequest,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new RenameDatastoreCommand(new Execution(context, 'RenameDatastore'), {
      datastoreId,
      name: body.name,
    });
    return this.runner.run(response, command, () =>
      this.queries.execute(new GetDatastore(datastoreId)),
    );
  }
}
