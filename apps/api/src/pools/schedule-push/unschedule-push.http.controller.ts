import { Controller, Delete, Param, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { PoolIdParam } from '../pool-id.param';
import { GetPool } from '../queries/pool.queries';
import { UnschedulePushCommand } from './unschedule-push.handler';

@ApiTags('pools')
@ApiBearerAuth()
@Controller('pools')
export class UnschedulePushController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Delete(':poolId/image/schedule')
  @Requires('pools:write')
  @ApiOperation({
    summary: 'Cancel a scheduled push image before it starts (a started one: cancel its task).',
  })
  @ApiCommand()
  @ApiProblems(400, 404, 409)
  unschedulePush(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new UnschedulePushCommand(new Execution(context, 'UnschedulePush'), {
      poolId,
    });
    return this.runner.run(response, command, (outcome) =>
      this.queries.execute(new GetPool(outcome.target.id)),
    );
  }
}
