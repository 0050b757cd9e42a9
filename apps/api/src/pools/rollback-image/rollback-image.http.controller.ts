import { Body, Controller, Param, Post, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiJsonBody, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { PoolIdParam } from '../pool-id.param';
import { GetPool } from '../queries/pool.queries';
import { RollbackImageCommand } from './rollback-image.handler';
import { RollbackImageRequest } from './rollback-image.request';

@ApiTags('pools')
@ApiBearerAuth()
@Controller('pools')
export class RollbackImageController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post(':poolId/image/rollback')
  @Requires('pools:write')
  @ApiOperation({
    summary: 'Roll back: push the image the pool had before its last push again.',
    description:
      'A push image of the previous golden snapshot, with the same rollout choices. 409 POOL.NO_PREVIOUS_IMAGE when there was no push.',
  })
  @ApiJsonBody(RollbackImageRequest)
  @ApiCommand()
  @ApiProblems(400, 404, 409, 413, 415, 422)
  rollbackImage(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Body(new Validate(RollbackImageRequest)) body: RollbackImageRequest,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new RollbackImageCommand(new Execution(context, 'RollbackImage'), {
      poolId,
      rollout: body.rollout ?? 'at-logoff',
    });
    return this.runner.run(response, command, (outcome) =>
      this.queries.execute(new GetPool(outcome.target.id)),
    );
  }
}
