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
import { RefreshMachineCommand } from './refresh.handler';

@ApiTags('pools')
@ApiBearerAuth()
@Controller('pools')
export class RefreshMachineController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post(':poolId/machines/:vmId/refresh')
  @Requires('pools:write')
  @ApiOperation({
    summary:
      'Refresh a desktop: back to its fork state (the replica’s disks, the parent’s memory), same name, MAC and user.',
    description:
      'A pool’s desktops are powered, refreshed and removed through their pool only (409 VM.MANAGED_BY_POOL on /vms).',
  })
  @ApiCommand()
  @ApiProblems(400, 404, 409)
  refresh(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new RefreshMachineCommand(new Execution(context, 'RefreshMachine'), {
      poolId,
      vmId,
    });
    return this.runner.run(response, command, (outcome) =>
      this.queries.execute(new GetPool(outcome.target.id)),
    );
  }
}
