import { Body, Controller, Delete, Get, Param, Post, Query, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Uuid } from '@dolly/domain';
import { type Principal, Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { v7 as uuidv7 } from 'uuid';
import { AsOfQuery, optionalInstant } from '../../shared/as-of';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiJsonBody, ApiOk, ApiProblems } from '../../shared/openapi';
import { Caller, Context, type RequestContext } from '../../shared/request-context';
import { GetVm } from '../queries/vm.queries';
import { SnapshotsView } from '../queries/vm.representation';
import { VmIdParam } from '../vm-id.param';
import { SnapshotCommand } from './snapshots.handler';
import { TakeSnapshotRequest } from './snapshots.request';

const SnapshotIdParam = Uuid('The snapshot.');

@ApiTags('snapshots')
@Controller('vms/:vmId/snapshots')
export class SnapshotsController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Get()
  @Requires('inventory:read')
  @ApiOperation({
    summary:
      "A VM's snapshots, oldest first, and which one it runs from (now, or as of an instant).",
  })
  @ApiQuery({ name: 'asOf', required: false, description: 'As it was at this instant.' })
  @ApiOk(SnapshotsView)
  @ApiProblems(400, 404)
  async list(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Query(new Validate(AsOfQuery)) query: AsOfQuery,
    @Caller() caller: Principal,
  ): Promise<SnapshotsView> {
    const { snapshots, currentSnapshotId } = await this.queries.execute(
      new GetVm(vmId, caller, optionalInstant(query.asOf)),
    );
    return { snapshots, currentSnapshotId };
  }

  @Post()
  @Requires('vm:snapshot')
  @ApiOperation({
    summary:
      'Take a snapshot: each disk’s top is frozen and a new delta starts over it (also while it runs).',
  })
  @ApiJsonBody(TakeSnapshotRequest)
  @ApiCommand()
  @ApiProblems(400, 404, 409, 413, 415, 422)
  take(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Body(new Validate(TakeSnapshotRequest)) body: TakeSnapshotRequest,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new SnapshotCommand(new Execution(context, 'TakeSnapshot'), {
      action: 'take',
      vmId,
      snapshotId: uuidv7(),
      name: body.name,
      description: body.description ?? '',
    });
    return this.runner.run(response, command, () =>
      this.queries.execute(new GetVm(vmId, context.principal)),
    );
  }

  @Post(':snapshotId/revert')
  @Requires('vm:snapshot')
  @ApiOperation({ summary: 'Revert a powered-off VM to a snapshot: its disks read as then.' })
  @ApiCommand()
  @ApiProblems(400, 404, 409, 422)
  revert(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Param('snapshotId', new Validate(SnapshotIdParam)) snapshotId: string,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new SnapshotCommand(new Execution(context, 'RevertToSnapshot'), {
      action: 'revert',
      vmId,
      snapshotId,
    });
    return this.runner.run(response, command, () =>
      this.queries.execute(new GetVm(vmId, context.principal)),
    );
  }

  @Delete(':snapshotId')
  @Requires('vm:snapshot')
  @ApiOperation({ summary: 'Delete a snapshot: its layers are consolidated into the chain.' })
  @ApiCommand()
  @ApiProblems(400, 404, 409, 422)
  remove(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Param('snapshotId', new Validate(SnapshotIdParam)) snapshotId: string,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new SnapshotCommand(new Execution(context, 'DeleteSnapshot'), {
      action: 'delete',
      vmId,
      snapshotId,
    });
    return this.runner.run(response, command, () =>
      this.queries.execute(new GetVm(vmId, context.principal)),
    );
  }
}
