import { Body, Controller, Post, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { v7 as uuidv7 } from 'uuid';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiJsonBody, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { generateMacAddress } from '@dolly/platform';
import { GetVm } from '../queries/vm.queries';
import { CreateVmCommand } from './create-vm.handler';
import { CreateVmRequest } from './create-vm.request';

@ApiTags('vms')
@Controller('vms')
export class CreateVmController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post()
  @Requires('inventory:write')
  @ApiOperation({ summary: 'Create a VM, powered off, on a host and datastore.' })
  @ApiJsonBody(CreateVmRequest)
  @ApiCommand({ creates: true })
  @ApiProblems(400, 409, 413, 415, 422)
  create(
    @Body(new Validate(CreateVmRequest)) body: CreateVmRequest,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const vmId = uuidv7();
    const command = new CreateVmCommand(new Execution(context, 'CreateVm'), {
      definition: {
        vmId,
        name: body.name,
        folder: body.folder ?? '/',
        hostId: body.hostId,
        datastoreId: body.datastoreId,
        hardware: body.hardware,
        disks: body.disks.map((disk, index) => ({
          diskId: uuidv7(),
          label: disk.label ?? `Hard disk ${index + 1}`,
          capacityBytes: disk.capacityBytes,
          format: disk.format,
        })),
        nics: (body.nics ?? []).map((nic) => ({
          network: nic.network,
          macAddress: nic.macAddress ?? generateMacAddress(),
        })),
        biosUuid: uuidv7(),
      },
    });
    return this.runner.run(
      response,
      command,
      () => this.queries.execute(new GetVm(vmId, context.principal)),
      {
        creates: true,
      },
    );
  }
}
