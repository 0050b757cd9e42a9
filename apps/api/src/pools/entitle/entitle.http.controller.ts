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
import { EntitleUserCommand } from './entitle.handler';
import { EntitlementRequest } from './entitle.request';

@ApiTags('pools')
@ApiBearerAuth()
@Controller('pools')
export class EntitleController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post(':poolId/entitlements')
  @Requires('desktops:assign')
  @ApiOperation({
    summary: 'Give a user a desktop: theirs, else a spare at once, else one forked for them.',
    description:
      'A new spare is forked to keep the count. At the pool’s maximum, with every machine in use, the request is refused (409 POOL.AT_MAXIMUM). ' +
      'Concurrent requests never get the same machine. The answer’s result names the desktop.',
  })
  @ApiJsonBody(EntitlementRequest)
  @ApiCommand()
  @ApiProblems(400, 404, 409, 413, 415)
  entitle(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Body(new Validate(EntitlementRequest)) body: EntitlementRequest,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new EntitleUserCommand(new Execution(context, 'EntitleUser'), {
      poolId,
      userId: body.userId,
    });
    return this.runner.run(response, command, (outcome) =>
      this.queries.execute(new GetPool(outcome.target.id)),
    );
  }
}
