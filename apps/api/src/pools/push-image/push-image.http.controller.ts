import { Body, Controller, Param, Post, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiJsonBody, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { SchedulePushCommand } from '../schedule-push/schedule-push.handler';
import { PoolIdParam } from '../pool-id.param';
import { GetPool } from '../queries/pool.queries';
import { PushImageCommand } from './push-image.handler';
import { PushImageRequest } from './push-image.request';

@ApiTags('pools')
@ApiBearerAuth()
@Controller('pools')
export class PushImageController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post(':poolId/image')
  @Requires('pools:write')
  @ApiOperation({
    summary:
      'Push image: rebuild the pool’s chain from a new golden snapshot and move its machines to it.',
    description:
      'A task builds the new internal template, replica and parent where the pool stands (watch it, or cancel it: the pool keeps its image). ' +
      'Once it is published, new machines fork from it; spares are replaced at once, never below the spare count; desktops in use as their users log off, or at once (rollout immediate). ' +
      'The earlier chain is removed once no machine stands on it. One push at a time (409 POOL.PUSH_IN_PROGRESS).',
  })
  @ApiJsonBody(PushImageRequest)
  @ApiCommand()
  @ApiProblems(400, 404, 409, 413, 415, 422)
  pushImage(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Body(new Validate(PushImageRequest)) body: PushImageRequest,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const push = {
      poolId,
      goldenVmId: body.goldenVmId,
      snapshotId: body.snapshotId,
      rollout: body.rollout ?? 'at-logoff',
    } as const;
    const later = body.startAt && Date.parse(body.startAt) > Date.parse(context.now);
    const command = later
      ? new SchedulePushCommand(new Execution(context, 'SchedulePush'), {
          ...push,
          startAt: new Date(body.startAt!).toISOString(),
        })
      : new PushImageCommand(new Execution(context, 'PushImage'), push);
    return this.runner.run(response, command, (outcome) =>
      this.queries.execute(new GetPool(outcome.target.id)),
    );
  }
}
