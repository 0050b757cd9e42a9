import { Controller, Delete, Param, Res } from '@nestjs/common';
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
import { RemoveMachineCommand } from './remove-machine.handler';

@ApiTags('pools')
@ApiBearerAuth()
@Controller('pools')
export class RemoveMachineController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Delete(':poolId/machines/:vmId')
  @Requires('pools:write')
  @ApiOperation({
    summary:
      'Remove a desktop: the pool deletes it (its user loses it) and forks spares to keep its count.',
  })
  @ApiCommand()
  @ApiProblems(400, 404, 409)
  remove(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new RemoveMachineCommand(new Execution(context, 'RemoveMachine'), {
      poolId,
      vmId,
      forced: false,
    });
    return this.runner.run(response, command, (outcome) =>
      this.queries.execute(new GetPool(outcome.target.id)),
    );
  }
}
