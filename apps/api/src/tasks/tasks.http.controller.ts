import { Controller, Get, Inject, Param, Query, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { STREAM_KINDS, StringEnum, Uuid, streamIdOf } from '@dolly/domain';
import { PostgresEventStore } from '@dolly/event-store';
import { type DollyConfig } from '@dolly/config';
import { DOLLY_CONFIG, type Principal, Requires, Validate } from '@dolly/platform';
import { type Static, Type } from '@sinclair/typebox';
import type { Response } from 'express';
import { ApiOk, ApiProblems } from '../shared/openapi';
import { ProjectionWaiter } from '../shared/projection-waiter';
import { Caller } from '../shared/request-context';
import { WaitSlots } from '../shared/request-limits';
import { targetProjected } from '../shared/task-settled';
import { streamTask } from './task-stream';
import { type Page, PageQuery, pageSchema } from '../shared/pagination';
import { GetTask, ListTasks } from './task.queries';
import { TASK_STATUSES, TaskView } from './task.representation';

/** How long a stream's `end` waits for the task's effect to be projected before it goes anyway. */
const EFFECT_SHOWN_WITHIN_MS = 15_000;

const ListTasksQuery = Type.Object(
  {
    targetId: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'Only tasks on this object.' }),
    ),
    status: Type.Optional(StringEnum(TASK_STATUSES, 'Only tasks in this status.')),
    ...PageQuery,
  },
  { additionalProperties: false },
);
type ListTasksQuery = Static<typeof ListTasksQuery>;

@ApiTags('tasks')
@ApiBearerAuth()
@Controller('tasks')
export class TasksController {
  constructor(
    private readonly queries: QueryBus,
    private readonly waiter: ProjectionWaiter,
    private readonly store: PostgresEventStore,
    private readonly slots: WaitSlots,
    @Inject(DOLLY_CONFIG) private readonly config: DollyConfig,
  ) {}

  @Get()
  @Requires('tasks:read')
  @ApiOperation({ summary: 'List tasks, oldest first.' })
  @ApiQuery({ name: 'targetId', required: false })
  @ApiQuery({ name: 'status', required: false, enum: TASK_STATUSES })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'cursor', required: false })
  @ApiOk(pageSchema(TaskView))
  @ApiProblems(400)
  list(@Query(new Validate(ListTasksQuery)) query: ListTasksQuery): Promise<Page<TaskView>> {
    const { limit = 50, cursor, ...filter } = query;
    return this.queries.execute(new ListTasks(filter, limit, cursor));
  }

  @Get(':taskId')
  @Requires('tasks:read')
  @ApiOperation({ summary: 'One task: status, progress, error.' })
  @ApiOk(TaskView)
  @ApiProblems(400, 404)
  get(@Param('taskId', new Validate(Uuid('The task.'))) taskId: string): Promise<TaskView> {
    return this.queries.execute(new GetTask(taskId));
  }

  @Get(':taskId/stream')
  @Requires('tasks:read')
  @ApiOperation({
    summary:
      'Server-sent events: the task as it progresses (event: progress), then how it ended (event: end), sent once a succeeded task’s effect shows when its target is read. ' +
      'A comment line comes every 15 s while nothing changes; after DOLLY_API_STREAM_MAX_SECONDS the stream ' +
      'closes without an end, and the client opens it again.',
  })
  @ApiProblems(400, 404, 429)
  async stream(
    @Param('taskId', new Validate(Uuid('The task.'))) taskId: string,
    @Caller() caller: Principal,
    @Res() response: Response,
  ): Promise<void> {
    const release = this.slots.take(caller);
    try {
      // The response closes when the client goes (the request's own 'close' comes as soon as it is read).
      const closed = new AbortController();
      response.on('close', () => closed.abort());
      await streamTask(
        response,
        taskId,
        {
          watch: (watcher) => this.waiter.watchTask(watcher),
          read: () => this.queries.execute(new GetTask(taskId)),
          effectShown: (task) => this.effectShown(task),
        },
        closed.signal,
        this.config.apiLimits.streamMaxSeconds,
      );
    } finally {
      release();
    }
  }

  /** Until a succeeded task's effect on its target is projected: read after `end`, it shows. */
  private async effectShown(task: TaskView): Promise<void> {
    const kind = STREAM_KINDS.find((known) => known === task.target.type);
    if (task.status !== 'succeeded' || !kind) return;
    await targetProjected(
      this.waiter,
      this.store,
      task.taskId,
      { streamId: streamIdOf({ kind, id: task.target.id }) },
      EFFECT_SHOWN_WITHIN_MS,
    );
  }
}
