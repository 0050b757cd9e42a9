import { Controller, Param, Post, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Uuid } from '@dolly/domain';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { GetTask } from '../task.queries';
import { CancelTask } from './cancel-task.handler';

@ApiTags('tasks')
@ApiBearerAuth()
@Controller('tasks')
export class CancelTaskController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post(':taskId/cancel')
  @Requires('tasks:cancel')
  @ApiOperation({
    summary:
      'Cancel a task. A queued task ends at once; a running one stops and leaves nothing half-made.',
  })
  @ApiCommand()
  @ApiProblems(400, 404, 409)
  cancel(
    @Param('taskId', new Validate(Uuid('The task.'))) taskId: string,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new CancelTask(new Execution(context, 'CancelTask'), { taskId });
    return this.runner.run(response, command, () => this.queries.execute(new GetTask(taskId)));
  }
}
