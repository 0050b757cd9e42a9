import { Controller, Delete, Param, Query, Res } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { VmIdParam } from '../vm-id.param';
import { ForceQuery, forced } from '../force';
import { DeleteVmCommand } from './delete-vm.handler';

@ApiTags('vms')
@Controller('vms/:vmId')
export class DeleteVmController {
  constructor(private readonly runner: CommandRunner) {}

  @Delete()
  @Requires('inventory:write')
  @ApiOperation({
    summary: 'Delete a powered-off VM or a template.',
    description:
      'A pool’s VMs are removed by their pool (DELETE /pools/{poolId}/machines/{vmId}); an admin may force the removal of a desktop here (force=true), which its pool then carries out.',
  })
  @ApiQuery({ name: 'force', required: false, type: Boolean })
  @ApiCommand()
  @ApiProblems(400, 403, 404, 409)
  delete(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Query(new Validate(ForceQuery)) query: ForceQuery,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new DeleteVmCommand(new Execution(context, 'DeleteVm'), {
      vmId,
      force: forced(query, context),
    });
    return this.runner.run(response, command, async (outcome) => ({
      vmId: outcome.target.id,
      deleted: true,
    }));
  }
}
