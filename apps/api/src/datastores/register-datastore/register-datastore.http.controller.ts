import { Body, Controller, Post, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DatastoreRegisteredData } from '@dolly/domain';
import { Requires, Validate } from '@dolly/platform';
import { type Static, Type } from '@sinclair/typebox';
import type { Response } from 'express';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiJsonBody, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { GetDatastore } from '../../inventory/inventory.queries';
import { RegisterDatastoreCommand } from './register-datastore.handler';

const { name, capacityBytes, overcommitRatio } = DatastoreRegisteredData.properties;
export const RegisterDatastoreRequest = Type.Object(
  {
    name,
    capacityBytes,
    folder: Type.String({
      minLength: 1,
      maxLength: 4096,
      pattern: '^/',
      description:
        'Absolute path of its folder, as the workers serving it see it: strictly inside one of the datastore roots (DOLLY_DATASTORE_ROOTS) once symlinks are resolved, inside or around no other datastore, and absent or empty (or, with adopt, holding a Dolly datastore).',
    }),
    overcommitRatio: Type.Optional({ ...overcommitRatio, default: 1 }),
    adopt: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'Take over the Dolly datastore the folder already holds (another installation’s, or one removed from this one), as it is and under the id it carries.',
      }),
    ),
  },
  { additionalProperties: false, description: 'A datastore to add.' },
);
type RegisterDatastoreRequest = Static<typeof RegisterDatastoreRequest>;

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
