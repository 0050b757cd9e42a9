import { Controller, Delete, Param, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { OperateOnVm } from '../vm-operations';
import { VmIdParam } from '../vm-id.param';

@ApiTags('vms')
@Controller('vms/:vmId')
export class DeleteVmController {
  constructor(private readonly runner: CommandRunner) {}

  @Delete()
  @Requires('inventory:write')
  @ApiOperation({ summary: 'Delete a powered-off VM or a template.' })
  @ApiCommand()
  @ApiProblems(400, 404, 409)
  delete(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new OperateOnVm(new Execution(context, 'DeleteVm'), { kind: 'delete', vmId });
    return this.runner.run(response, command, async (outcome) => ({
      vmId: outcome.target.id,
      deleted: true,
    }));
  }
}
