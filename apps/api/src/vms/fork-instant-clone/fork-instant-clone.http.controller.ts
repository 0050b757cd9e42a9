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
import { ForkInstantCloneCommand } from './fork-instant-clone.handler';
import { InstantCloneRequest } from './fork-instant-clone.request';

@ApiTags('cloning')
@Controller('vms/:vmId')
export class ForkInstantCloneController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post('instant-clone')
  @Requires('vm:clone')
  @ApiOperation({
    summary: 'Fork an instant clone from a running VM: no boot, running at once.',
    description:
      'The clone shares the parent’s memory image and disks copy-on-write; its writes stay its own. The first fork freezes the parent (its disks turn read-only). ' +
      'When the parent stands on a replica, the clone is linked to the replica, not the parent: the parent may be deleted while clones run. ' +
      'A powered-off or suspended VM, or a template, is refused (FORK.SOURCE_*).',
  })
  @ApiJsonBody(InstantCloneRequest)
  @ApiCommand({ creates: true })
  @ApiProblems(400, 404, 409, 413, 415, 422)
  fork(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Body(new Validate(InstantCloneRequest)) body: InstantCloneRequest,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new ForkInstantCloneCommand(new Execution(context, 'ForkInstantClone'), {
      parentVmId: vmId,
      ...body,
    });
    return this.runner.run(
      response,
      command,
      (outcome) => this.queries.execute(new GetVm(outcome.target.id, context.principal)),
      {
        creates: true,
      },
    );
  }
}
