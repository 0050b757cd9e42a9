import { Body, Controller, Post, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiJsonBody, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { GetPool } from '../queries/pool.queries';
import { CreatePoolCommand } from './create-pool.handler';
import { CreatePoolRequest } from './create-pool.request';

@ApiTags('pools')
@ApiBearerAuth()
@Controller('pools')
export class CreatePoolController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post()
  @Requires('pools:write')
  @ApiOperation({
    summary: 'Create a desktop pool from a golden image’s snapshot.',
    description:
      'Builds the chain: internal template (linked clone of the snapshot), a replica on each datastore (thin full copy, read-only), a running parent for each host and datastore; then forks machines (spares, or all up front), spread over the parents. ' +
      'A pool whose host cannot run the golden image’s hardware, or whose datastore cannot hold the replica, is refused with every reason.',
  })
  @ApiJsonBody(CreatePoolRequest)
  @ApiCommand({ creates: true })
  @ApiProblems(400, 404, 409, 413, 415, 422)
  create(
    @Body(new Validate(CreatePoolRequest)) body: CreatePoolRequest,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const { goldenVmId, snapshotId, hostId, hostIds, datastoreId, datastoreIds, ...settings } =
      body;
    const sites = {
      hostIds: [...new Set([...(hostIds ?? []), ...(hostId ? [hostId] : [])])],
      datastoreIds: [...new Set([...(datastoreIds ?? []), ...(datastoreId ? [datastoreId] : [])])],
    };
    const command = new CreatePoolCommand(new Execution(context, 'CreatePool'), {
      settings,
      goldenVmId,
      snapshotId,
      ...sites,
    });
    return this.runner.run(
      response,
      command,
      (outcome) => this.queries.execute(new GetPool(outcome.target.id)),
      { creates: true },
    );
  }
}
