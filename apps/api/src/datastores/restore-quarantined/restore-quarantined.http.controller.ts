import { Controller, Param, Post, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Uuid } from '@dolly/domain';
import { Type } from '@sinclair/typebox';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { GetQuarantine } from '../../inventory/inventory.queries';
import { RestoreQuarantinedCommand } from './restore-quarantined.handler';

/**
 * An entry of the quarantine list as it may be named in a path: a layer's id, or a moved-aside
 * file's name (a time stamp and the name it had: refused as not restorable, with the reason).
 * Never a path: no slash (encoded or not), no `..`, no leading dot.
 */
const QuarantineEntryName = Type.String({
  minLength: 1,
  maxLength: 255,
  pattern: '^(?!.*\\.\\.)[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$',
  description: 'The entry as the quarantine list names it.',
});

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
    @Param('entry', new Validate(QuarantineEntryName))
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
