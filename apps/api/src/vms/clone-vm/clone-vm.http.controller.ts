import { Body, Controller, Param, Post, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { VmRole } from '@dolly/domain';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiJsonBody, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { GetVm } from '../queries/vm.queries';
import { VmIdParam } from '../vm-id.param';
import { type CloneOperation, CloneVmCommand } from './clone-vm.handler';
import { CloneToTemplateRequest, CloneVmRequest } from './clone-vm.request';

/** Runs a clone for a request; the answer's target is the new VM (or template). */
export function runClone(
  runner: CommandRunner,
  queries: QueryBus,
  response: Response,
  context: RequestContext,
  operation: CloneOperation,
): Promise<void> {
  const command = new CloneVmCommand(new Execution(context, operation.operation), operation);
  return runner.run(
    response,
    command,
    (outcome) => queries.execute(new GetVm(outcome.target.id, context.principal)),
    {
      creates: true,
    },
  );
}

interface CloneBody {
  name: string;
  folder?: string;
  hostId?: string;
  datastoreId?: string;
  format?: CloneOperation['request']['format'];
  linked?: boolean;
  snapshotId?: string;
  powerOn?: boolean;
  hardware?: CloneOperation['request']['hardware'];
}

/** Every clone request, whatever its endpoint, as the clone it asks for. */
export function cloneRequest(
  sourceVmId: string,
  role: VmRole,
  body: CloneBody,
): CloneOperation['request'] {
  return {
    sourceVmId,
    name: body.name,
    folder: body.folder,
    hostId: body.hostId,
    datastoreId: body.datastoreId,
    role,
    linked: body.linked ?? false,
    snapshotId: body.snapshotId ?? null,
    format: body.format ?? 'same',
    hardware: body.hardware,
    powerOnAfter: body.powerOn ?? false,
  };
}

@ApiTags('cloning')
@Controller('vms/:vmId')
export class CloneVmController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post('clone')
  @Requires('vm:clone')
  @ApiOperation({
    summary: 'Clone a VM: an exact copy with its own identity (VM id, BIOS UUID, MACs).',
    description:
      'The source may be powered on: it is not quiesced; the copy is crash-consistent, taken at one instant while it keeps running. ' +
      'linked + snapshotId stands a new delta on the snapshot (no copy). Space is planned: what the target datastore cannot hold is refused before any byte is written.',
  })
  @ApiJsonBody(CloneVmRequest)
  @ApiCommand({ creates: true })
  @ApiProblems(400, 404, 409, 413, 415, 422)
  clone(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Body(new Validate(CloneVmRequest)) body: CloneVmRequest,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    return runClone(this.runner, this.queries, response, context, {
      operation: 'CloneVm',
      sourceRole: 'vm',
      request: cloneRequest(vmId, 'vm', body),
    });
  }

  @Post('clone-to-template')
  @Requires('vm:clone')
  @ApiOperation({ summary: 'Clone a VM (on or off) to a template, in the disk format chosen.' })
  @ApiJsonBody(CloneToTemplateRequest)
  @ApiCommand({ creates: true })
  @ApiProblems(400, 404, 409, 413, 415, 422)
  cloneToTemplate(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Body(new Validate(CloneToTemplateRequest)) body: CloneToTemplateRequest,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    return runClone(this.runner, this.queries, response, context, {
      operation: 'CloneVmToTemplate',
      sourceRole: 'vm',
      request: cloneRequest(vmId, 'template', body),
    });
  }
}
