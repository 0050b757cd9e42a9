import { Body, Controller, Post, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { v7 as uuidv7 } from 'uuid';
import { GetHost } from '../../inventory/inventory.queries';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiJsonBody, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { RegisterHostCommand } from './register-host.handler';
import { RegisterHostRequest } from './register-host.request';

@ApiTags('hosts')
@ApiBearerAuth()
@Controller('hosts')
export class RegisterHostController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post()
  @Requires('infrastructure:write')
  @ApiOperation({ summary: 'Register a compute host.' })
  @ApiJsonBody(RegisterHostRequest)
  @ApiCommand({ creates: true })
  @ApiProblems(400, 409, 413, 415)
  register(
    @Body(new Validate(RegisterHostRequest)) body: RegisterHostRequest,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const hostId = uuidv7();
    const command = new RegisterHostCommand(new Execution(context, 'RegisterHost'), {
      hostId,
      ...body,
    });
    return this.runner.run(response, command, () => this.queries.execute(new GetHost(hostId)), {
      creates: true,
    });
  }
}
