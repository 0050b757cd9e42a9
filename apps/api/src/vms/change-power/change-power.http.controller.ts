import { Controller, Param, Post, Query, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { GetVm } from '../queries/vm.queries';
import { VmIdParam } from '../vm-id.param';
import { ForceQuery, forced } from '../force';
import { ChangePowerCommand } from './change-power.handler';

/** Power operations: the only commands a host client may send. */
@ApiTags('vms')
@Controller('vms/:vmId')
export class ChangePowerController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post('power-on')
  @Requires('vm:power')
  @ApiOperation({
    summary: 'Power on a VM (a suspended VM resumes from its memory image). Templates cannot.',
  })
  @ApiQuery({ name: 'force', required: false, type: Boolean })
  @ApiCommand()
  @ApiProblems(400, 403, 404, 409)
  powerOn(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Query(new Validate(ForceQuery)) query: ForceQuery,
    @Context() context: RequestContext,
    @Res() response: Response,
  ) {
    return this.send('PowerOnVm', vmId, forced(query, context), context, response);
  }

  @Post('power-off')
  @Requires('vm:power')
  @ApiOperation({ summary: 'Power off a running or suspended VM.' })
  @ApiQuery({ name: 'force', required: false, type: Boolean })
  @ApiCommand()
  @ApiProblems(400, 403, 404, 409)
  powerOff(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Query(new Validate(ForceQuery)) query: ForceQuery,
    @Context() context: RequestContext,
    @Res() response: Response,
  ) {
    return this.send('PowerOffVm', vmId, forced(query, context), context, response);
  }

  @Post('suspend')
  @Requires('vm:power')
  @ApiOperation({ summary: 'Suspend a running VM, keeping its memory image.' })
  @ApiQuery({ name: 'force', required: false, type: Boolean })
  @ApiCommand()
  @ApiProblems(400, 403, 404, 409)
  suspend(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Query(new Validate(ForceQuery)) query: ForceQuery,
    @Context() context: RequestContext,
    @Res() response: Response,
  ) {
    return this.send('SuspendVm', vmId, forced(query, context), context, response);
  }

  private send(
    operation: 'PowerOnVm' | 'PowerOffVm' | 'SuspendVm',
    vmId: string,
    force: boolean,
    context: RequestContext,
    response: Response,
  ) {
    const to = (
      { PowerOnVm: 'poweredOn', PowerOffVm: 'poweredOff', SuspendVm: 'suspended' } as const
    )[operation];
    const command = new ChangePowerCommand(new Execution(context, operation), {
      vmId,
      to,
      operation,
      force,
    });
    return this.runner.run(response, command, () =>
      this.queries.execute(new GetVm(vmId, context.principal)),
    );
  }
}
