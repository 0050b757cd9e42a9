import { Controller, Delete, Param, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Uuid } from '@dolly/domain';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { RemoveDatastoreCommand } from './remove-datastore.handler';

@ApiTags('datastores')
@ApiBearerAuth()
@Controller('datastores/:datastoreId')
export class RemoveDatastoreController {
  constructor(private readonly runner: CommandRunner) {}

  @Delete()
  @Requires('infrastructure:write')
  @ApiOperation({
    summary: 'Remove a datastore that nothing stands on.',
    description:
      'Refused (409 DATASTORE.IN_USE) while any disk, memory image or VM is on it, with each one named. Its folder stays as it is, no longer served: adopt it to bring it back.',
  })
  @ApiCommand()
  @ApiProblems(400, 404, 409)
  remove(
    @Param('datastoreId', new Validate(Uuid('The datastore.'))) datastoreId: string,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new RemoveDatastoreCommand(new Execution(context, 'RemoveDatastore'), {
      datastoreId,
    });
    return this.runner.run(response, command, async (outcome) => ({
      datastoreId: outcome.target.id,
      removed: true,
    }));
  }
}
