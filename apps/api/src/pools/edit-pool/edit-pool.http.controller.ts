import { Body, Controller, Param, Patch, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiJsonBody, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { PoolIdParam } from '../pool-id.param';
import { GetPool } from '../queries/pool.queries';
import { EditPoolCommand } from './edit-pool.handler';
import { EditPoolRequest } from './edit-pool.request';

@ApiTags('pools')
@ApiBearerAuth()
@Controller('pools')
export class EditPoolController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Patch(':poolId')
  @Requires('pools:write')
  @ApiOperation({
    summary: 'Change a pool’s name, maximum or spare count; it forks what it then lacks.',
  })
  @ApiJsonBody(EditPoolRequest)
  @ApiCommand()
  @ApiProblems(400, 404, 409, 413, 415)
  edit(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Body(new Validate(EditPoolRequest)) body: EditPoolRequest,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const command = new EditPoolCommand(new Execution(context, 'EditPool'), {
      poolId,
      changes: body,
    });
    return this.runner.run(response, command, (outcome) =>
      this.queries.execute(new GetPool(outcome.target.id)),
    );
  }
}
