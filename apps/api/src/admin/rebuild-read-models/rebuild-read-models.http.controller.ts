import { Controller, Post, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Requires } from '@dolly/platform';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { GetTask } from '../../tasks/task.queries';
import { RebuildReadModelsCommand } from './rebuild-read-models.handler';

@ApiTags('admin')
@ApiBearerAuth()
@Controller('admin/read-models')
export class RebuildReadModelsController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post('rebuild')
  @Requires('read-models:rebuild')
  @ApiOperation({
    summary: 'Rebuild every read model from the whole history, with no downtime (admin).',
    description:
      'A task (202) run by a projector: it replays every event into fresh tables while the live ones serve and are kept up to date, then switches over to the fresh ones in one short transaction (readers wait at most for it; nothing is unavailable). Progress is reported in events, with the rate (progress.unit = events, progress.perSecond). Cancelling it, or a failure, drops what it made, and the live tables serve on. One rebuild runs at a time: another waits its turn.',
  })
  @ApiCommand()
  @ApiProblems(400, 403)
  rebuild(@Context() context: RequestContext, @Res() response: Response): Promise<void> {
    const command = new RebuildReadModelsCommand(new Execution(context, 'RebuildReadModels'), {});
    return this.runner.run(response, command, (outcome) =>
      this.queries.execute(new GetTask(outcome.target.id)),
    );
  }
}
