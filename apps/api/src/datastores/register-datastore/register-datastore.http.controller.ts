import { Body, Controller, Post, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiJsonBody, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { GetDatastore } from '../../inventory/inventory.queries';
import { RegisterDatastoreCommand } from './register-datastore.handler';
import { RegisterDatastoreRequest } from './register-datastore.request';

@ApiTags('datastores')
@ApiBearerAuth()
@Controller('datastores')
export class RegisterDatastoreController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post()
  @Requires('infrastructure:write')
  @ApiOperation({
    summary: 'Register a datastore: a folder the workers serving it can reach.',
    description:
      'The folder is checked before anything is recorded, and again by every worker before it touches it: every reason it may not be a datastore is answered at once (422 DATASTORE.FOLDER_REFUSED).',
  })
  @ApiJsonBody(RegisterDatastoreRequest)
  @ApiCommand({ creates: true })
  @ApiProblems(400, 409, 413, 415, 422)
  register(
    @Body(new Validate(RegisterDatastoreRequest)) body: RegisterDatastoreRequest,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const name = body.adopt ? 'AdoptDatastore' : 'RegisterDatastore';
    const command = new RegisterDatastoreCommand(new Execution(context, name), {
      ...body,
      overcommitRatio: body.overcommitRatio ?? 1,
      adopt: body.adopt ?? false,
    });
    return this.runner.run(
      response,
      command,
      (outcome) => this.queries.execute(new GetDatastore(outcome.target.id)),
      { creates: true },
    );
  }
}
