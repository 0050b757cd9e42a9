import { Body, Controller, Delete, Get, Param, Patch, Post, Query, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import {
  InventoryName,
  POOL_MAX_DATASTORES,
  POOL_MAX_HOSTS,
  POOL_ROLLOUT,
  PoolSettings,
  StringEnum,
  Uuid,
} from '@dolly/domain';
import { Requires, Validate } from '@dolly/platform';
import { type Static, Type } from '@sinclair/typebox';
import type { Response } from 'express';
import { Execution } from '../shared/command-execution';
import { CommandRunner } from '../shared/command-runner';
import { ApiCommand, ApiJsonBody, ApiOk, ApiProblems } from '../shared/openapi';
import { type Page, PageQuery, pageSchema } from '../shared/pagination';
import { Context, type RequestContext } from '../shared/request-context';
import { GetVm } from '../vms/queries/vm.queries';
import { VmIdParam } from '../vms/vm-id.param';
import { GetPool, ListPools } from './pool.queries';
import { PoolView } from './pool.representation';
import { OperateOnPool, type PoolOperation } from './pool-operations';

export const CreatePoolRequest = Type.Composite(
  [
    PoolSettings,
    Type.Object({
      goldenVmId: Uuid('The golden image: a VM with the snapshot to publish.'),
      snapshotId: Uuid('The snapshot published as the pool’s image.'),
      hostIds: Type.Optional(
        Type.Array(Uuid('A host.'), {
          minItems: 1,
          maxItems: POOL_MAX_HOSTS,
          uniqueItems: true,
          description: 'The hosts its machines run on: a parent runs on each, for each datastore.',
        }),
      ),
      datastoreIds: Type.Optional(
        Type.Array(Uuid('A datastore.'), {
          minItems: 1,
          maxItems: POOL_MAX_DATASTORES,
          uniqueItems: true,
          description: 'The datastores its machines stand on: a replica on each.',
        }),
      ),
      hostId: Type.Optional(Uuid('One host: short for hostIds with one item.')),
      datastoreId: Type.Optional(Uuid('One datastore: short for datastoreIds with one item.')),
    }),
  ],
  { additionalProperties: false, description: 'A desktop pool of instant clones.' },
);
type CreatePoolRequest = Static<typeof CreatePoolRequest>;

export const EditPoolRequest = Type.Object(
  {
    name: Type.Optional(InventoryName('The pool’s name.')),
    maxMachines: Type.Optional(PoolSettings.properties.maxMachines),
    spareMachines: Type.Optional(PoolSettings.properties.spareMachines),
  },
  { additionalProperties: false, minProperties: 1, description: 'Settings to change.' },
);
type EditPoolRequest = Static<typeof EditPoolRequest>;

export const EntitlementRequest = Type.Object(
  {
    userId: Type.String({
      minLength: 1,
      maxLength: 256,
      description: 'The user who needs a desktop, as the broker names them.',
    }),
  },
  { additionalProperties: false, description: 'Give a user a desktop of the pool.' },
);
type EntitlementRequest = Static<typeof EntitlementRequest>;

const Rollout = StringEnum(
  POOL_ROLLOUT,
  'How desktops in use move to the new image: at-logoff (default: as their users log off) or immediate (their users are logged off now). Spares move at once, never below the spare count.',
);

export const PushImageRequest = Type.Object(
  {
    goldenVmId: Uuid('The golden image: a VM with the snapshot to publish.'),
    snapshotId: Uuid('The snapshot published as the pool’s new image.'),
    rollout: Type.Optional(Rollout),
    startAt: Type.Optional(
      Type.String({
        format: 'date-time',
        description:
          'When to start (e.g. tonight, outside working hours); absent or past: now. Until then the push can be cancelled (DELETE .../image/schedule).',
      }),
    ),
  },
  { additionalProperties: false, description: 'Push a new image to a pool.' },
);
type PushImageRequest = Static<typeof PushImageRequest>;

export const RollbackImageRequest = Type.Object(
  { rollout: Type.Optional(Rollout) },
  { additionalProperties: false, description: 'Push the pool’s previous image again.' },
);
type RollbackImageRequest = Static<typeof RollbackImageRequest>;

const PoolIdParam = Uuid('The pool.');
const ListQuery = Type.Object(PageQuery, { additionalProperties: false });
type ListQuery = Static<typeof ListQuery>;

@ApiTags('pools')
@ApiBearerAuth()
@Controller('pools')
export class PoolsController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  private run(
    response: Response,
    context: RequestContext,
    name: string,
    operation: PoolOperation,
    creates = false,
  ) {
    const command = new OperateOnPool(new Execution(context, name), operation);
    return this.runner.run(
      response,
      command,
      async (outcome) =>
        outcome.target.type === 'pool'
          ? this.queries.execute(new GetPool(outcome.target.id))
          : this.queries.execute(new GetVm(outcome.target.id, context.principal)),
      { creates },
    );
  }

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
    return this.run(
      response,
      context,
      'CreatePool',
      { kind: 'create', settings, goldenVmId, snapshotId, ...sites },
      true,
    );
  }

  @Get()
  @Requires('inventory:read')
  @ApiOperation({ summary: 'List pools.' })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'cursor', required: false })
  @ApiOk(pageSchema(PoolView))
  @ApiProblems(400)
  list(@Query(new Validate(ListQuery)) query: ListQuery): Promise<Page<PoolView>> {
    return this.queries.execute(new ListPools(query.limit ?? 50, query.cursor));
  }

  @Get(':poolId')
  @Requires('inventory:read')
  @ApiOperation({ summary: 'One pool, its chain and its machines.' })
  @ApiOk(PoolView)
  @ApiProblems(400, 404)
  async get(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Res({ passthrough: true }) response: Response,
  ): Promise<PoolView> {
    const pool = await this.queries.execute(new GetPool(poolId));
    response.setHeader('ETag', `"${pool.version}"`);
    return pool;
  }

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
    return this.run(response, context, 'EditPool', { kind: 'edit', poolId, changes: body });
  }

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
    return this.run(response, context, 'DeletePool', { kind: 'delete', poolId });
  }

  @Post(':poolId/entitlements')
  @Requires('desktops:assign')
  @ApiOperation({
    summary: 'Give a user a desktop: theirs, else a spare at once, else one forked for them.',
    description:
      'A new spare is forked to keep the count. At the pool’s maximum, with every machine in use, the request is refused (409 POOL.AT_MAXIMUM). ' +
      'Concurrent requests never get the same machine. The answer’s result names the desktop.',
  })
  @ApiJsonBody(EntitlementRequest)
  @ApiCommand()
  @ApiProblems(400, 404, 409, 413, 415)
  entitle(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Body(new Validate(EntitlementRequest)) body: EntitlementRequest,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    return this.run(response, context, 'EntitleUser', {
      kind: 'entitle',
      poolId,
      userId: body.userId,
    });
  }

  @Post(':poolId/machines/:vmId/logoff')
  @Requires('desktops:assign')
  @ApiOperation({
    summary:
      'Its user logged off: a floating desktop is deleted, a dedicated one refreshed (back to the replica’s state, same name and MAC).',
  })
  @ApiCommand()
  @ApiProblems(400, 404, 409)
  logOff(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    return this.run(response, context, 'LogOff', { kind: 'logoff', poolId, vmId });
  }

  @Post(':poolId/machines/:vmId/refresh')
  @Requires('pools:write')
  @ApiOperation({
    summary:
      'Refresh a desktop: back to its fork state (the replica’s disks, the parent’s memory), same name, MAC and user.',
    description:
      'A pool’s desktops are powered, refreshed and removed through their pool only (409 VM.MANAGED_BY_POOL on /vms).',
  })
  @ApiCommand()
  @ApiProblems(400, 404, 409)
  refresh(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    return this.run(response, context, 'RefreshMachine', { kind: 'refresh-machine', poolId, vmId });
  }

  @Delete(':poolId/machines/:vmId')
  @Requires('pools:write')
  @ApiOperation({
    summary:
      'Remove a desktop: the pool deletes it (its user loses it) and forks spares to keep its count.',
  })
  @ApiCommand()
  @ApiProblems(400, 404, 409)
  remove(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    return this.run(response, context, 'RemoveMachine', {
      kind: 'remove-machine',
      poolId,
      vmId,
      forced: false,
    });
  }

  @Post(':poolId/image')
  @Requires('pools:write')
  @ApiOperation({
    summary:
      'Push image: rebuild the pool’s chain from a new golden snapshot and move its machines to it.',
    description:
      'A task builds the new internal template, replica and parent where the pool stands (watch it, or cancel it: the pool keeps its image). ' +
      'Once it is published, new machines fork from it; spares are replaced at once, never below the spare count; desktops in use as their users log off, or at once (rollout immediate). ' +
      'The earlier chain is removed once no machine stands on it. One push at a time (409 POOL.PUSH_IN_PROGRESS).',
  })
  @ApiJsonBody(PushImageRequest)
  @ApiCommand()
  @ApiProblems(400, 404, 409, 413, 415, 422)
  pushImage(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Body(new Validate(PushImageRequest)) body: PushImageRequest,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    const push = {
      poolId,
      goldenVmId: body.goldenVmId,
      snapshotId: body.snapshotId,
      rollout: body.rollout ?? 'at-logoff',
    } as const;
    const later = body.startAt && Date.parse(body.startAt) > Date.parse(context.now);
    return later
      ? this.run(response, context, 'SchedulePush', {
          kind: 'schedule-push',
          ...push,
          startAt: new Date(body.startAt!).toISOString(),
        })
      : this.run(response, context, 'PushImage', { kind: 'push-image', ...push });
  }

  @Delete(':poolId/image/schedule')
  @Requires('pools:write')
  @ApiOperation({
    summary: 'Cancel a scheduled push image before it starts (a started one: cancel its task).',
  })
  @ApiCommand()
  @ApiProblems(400, 404, 409)
  unschedulePush(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    return this.run(response, context, 'UnschedulePush', { kind: 'unschedule-push', poolId });
  }

  @Post(':poolId/recover')
  @Requires('pools:write')
  @ApiOperation({
    summary: 'Recover: recreate the machines whose host (worker) is gone.',
    description:
      'Each VM of the pool held by a worker that no longer answers is powered off where it stood; each lost machine is forked again under its name, MAC and user and the lost one removed. ' +
      'When the parent itself is lost, the pool’s image is built again on live workers first (a task, like a push of the same snapshot). 409 POOL.NOTHING_TO_RECOVER when every host answers.',
  })
  @ApiCommand()
  @ApiProblems(400, 404, 409, 422)
  recover(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    return this.run(response, context, 'RecoverPool', { kind: 'recover', poolId });
  }

  @Post(':poolId/image/rollback')
  @Requires('pools:write')
  @ApiOperation({
    summary: 'Roll back: push the image the pool had before its last push again.',
    description:
      'A push image of the previous golden snapshot, with the same rollout choices. 409 POOL.NO_PREVIOUS_IMAGE when there was no push.',
  })
  @ApiJsonBody(RollbackImageRequest)
  @ApiCommand()
  @ApiProblems(400, 404, 409, 413, 415, 422)
  rollbackImage(
    @Param('poolId', new Validate(PoolIdParam)) poolId: string,
    @Body(new Validate(RollbackImageRequest)) body: RollbackImageRequest,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    return this.run(response, context, 'RollbackImage', {
      kind: 'rollback-image',
      poolId,
      rollout: body.rollout ?? 'at-logoff',
    });
  }
}
