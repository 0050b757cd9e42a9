import { Controller, Param, Post, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { LayerId, Uuid } from '@dolly/domain';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { GetQuarantine } from '../../inventory/inventory.queries';
import { RestoreQuarantinedCommand } from './restore-quarantined.handler';

@ApiTags('datastores')
@ApiBearerAuth()
@Controller('datastores/:datastoreId/quarantine/:entry')
export class RestoreQuarantinedController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post('restore')
  @Requires('datastores:quarantine:restore')
  @ApiOperation({
    summary: 'Restore a quarantined layer (admin): checked again, taken back if sound.',
    description:
      'A task (202) run by a worker serving the datastore, with progress, cancellable: it checks the layer again (a regular file, no symlink; a sound qcow2 on the backing its graph names; nothing below it quarantined) and takes it back (DatastoreLayerRestored: it leaves the quarantine list). A layer still broken fails the task with the reason (DISK.STILL_BROKEN) and stays quarantined. Refused at once: 404 when the datastore or the entry is unknown, 409 QUARANTINE.NOT_RESTORABLE for a file moved aside, 409 DATASTORE.INACCESSIBLE.',
  })
  @ApiCommand()
  @ApiProblems(400, 403, 404, 409)
  restore(
    @Param('datastoreId', new Validate(Uuid('The datastore.'))) datastoreId: string,
    @Param('entry', new Validate(LayerId('The quarantined layer (its entry in the list).')))
    entry: string,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new RestoreQuarantinedCommand(
      new Execution(context, 'RestoreQuarantinedLayer'),
      { datastoreId, entry },
    );
    return this.runner.run(response, command, () =>
      this.queries.execute(new GetQuarantine(datastoreId)),
    );
  }
}
