import { Body, Controller, Param, Post, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiJsonBody, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { GetVm } from '../queries/vm.queries';
import { VmIdParam } from '../vm-id.param';
import { RenameVmCommand } from './rename-vm.handler';
import { RenameVmRequest } from './rename-vm.request';

@ApiTags('vms')
@Controller('vms/:vmId')
export class RenameVmController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post('rename')
  @Requires('inventory:write')
  @ApiOperation({
    summary:
      'Rename a VM or template. Renaming to the current name changes nothing (200, no task).',
  })
  @ApiJsonBody(RenameVmRequest)
  @ApiCommand()
  @ApiProblems(400, 404, 409, 413, 415)
  rename(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Body(new Validate(RenameVmRequest)) body: RenameVmRequest,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new RenameVmCommand(new Execution(context, 'RenameVm'), {
      vmId,
      name: body.name,
    });
    return this.runner.run(response, command, () =>
      this.queries.execute(new GetVm(vmId, context.principal)),
    );
  }
}
