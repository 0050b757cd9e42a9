import { Controller, Param, Post, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { VmIdParam } from '../../vms/vm-id.param';
import { PoolIdParam } from '../pool-id.param';
import { GetPool } from '../queries/pool.queries';
import { LogOffCommand } from './logoff.handler';

@ApiTags('pools')
@ApiBearerAuth()
@Controller('pools')
export class LogOffController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post(':poolId/machines/:vmId/logoff')
  @Requires('desktops:assign')
  @ApiOperation({
    summary:
      'Its user logged off: a floating desktop is deleted, a dedicated one refreshed (back to the replica’s state, same name and MAC).',
  })
  @ApiCommand()
  @ApiProblems(400, 404, 409)
  logOff(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new LogOffCommand(new Execution(context, 'LogOff'), { poolId, vmId });
    return this.runner.run(response, command, (outcome) =>
      this.queries.execute(new GetPool(outcome.target.id)),
    );
  }
}
