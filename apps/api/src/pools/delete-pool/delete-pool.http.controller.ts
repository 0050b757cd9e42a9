import { Controller, Delete, Param, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { PoolIdParam } from '../pool-id.param';
import { GetPool } from '../queries/pool.queries';
import { DeletePoolCommand } from './delete-pool.handler';

@ApiTags('pools')
@ApiBearerAuth()
@Controller('pools')
export class DeletePoolController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Delete(':poolId')
  @Requires('pools:write')
  @ApiOperation({
    summary:
      'Delete a pool: its machines and parent, then its replica, then its internal template; space returns.',
  })
  @ApiCommand()
  @ApiProblems(400, 404, 409)
  delete(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new DeletePoolCommand(new Execution(context, 'DeletePool'), { poolId });
    return this.runner.run(response, command, (outcome) =>
      this.queries.execute(new GetPool(outcome.target.id)),
    );
  }
}
