import { Controller, Param, Post, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { GetVm } from '../queries/vm.queries';
import { VmIdParam } from '../vm-id.param';
import { ConvertVmCommand } from './convert-vm.handler';

/** Converting changes the role only: no format choice, no copy, the disk files stay as they are. */
@ApiTags('vms')
@Controller('vms/:vmId')
export class ConvertVmController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post('convert-to-template')
  @Requires('inventory:write')
  @ApiOperation({ summary: 'Convert a powered-off VM to a template, in place.' })
  @ApiCommand()
  @ApiProblems(400, 404, 409)
  toTemplate(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new ConvertVmCommand(new Execution(context, 'ConvertVmToTemplate'), {
      vmId,
      type: 'ConvertVmToTemplate',
    });
    return this.runner.run(response, command, () =>
      this.queries.execute(new GetVm(vmId, context.principal)),
    );
  }

  @Post('convert-to-vm')
  @Requires('inventory:write')
  @ApiOperation({ summary: 'Convert a template back to a VM, to edit it.' })
  @ApiCommand()
  @ApiProblems(400, 404, 409)
  toVm(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new ConvertVmCommand(new Execution(context, 'ConvertTemplateToVm'), {
      vmId,
      type: 'ConvertTemplateToVm',
    });
    return this.runner.run(response, command, () =>
      this.queries.execute(new GetVm(vmId, context.principal)),
    );
  }
}
