import { Controller, Param, Post, Res } from '@nestjs/common';
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
import { RecoverPoolCommand } from './recover.handler';

@ApiTags('pools')
@ApiBearerAuth()
@Controller('pools')
export class RecoverPoolController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post(':poolId/recover')
  @Requires('pools:write')
  @ApiOperation({
    summary: 'Recover: recreate the machines whose host (worker) is gone.',
    description:
      'Each VM of the pool held by a worker that no longer answers is powered off where it stood; each lost machine is forked again under its name, MAC and user and the lost one removed. ' +
      'When the parent itself is lost, the pool’s image is built again on live workers first (a task, like a push of the same snapshot). 409 POOL.NOTHING_TO_RECOVER when every host answers.',
  })
  @ApiCommand()
  @ApiProblems(400, 404, 409, 422)
  recover(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new RecoverPoolCommand(new Execution(context, 'RecoverPool'), { poolId });
    return this.runner.run(response, command, (outcome) =>
      this.queries.execute(new GetPool(outcome.target.id)),
    );
  }
}
