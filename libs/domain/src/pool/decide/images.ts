/** The pool's image: its first build, and images pushed (at once or at a time) over it. */
import {
  type ErrorReason,
  IllegalStateError,
  NotFoundError,
  ValidationError,
} from '../../shared/errors';
import type {
  PushImage,
  RecordImageFailed,
  RecordImagePublished,
  SchedulePush,
  UnschedulePush,
} from '../pool.commands';
import type { PoolEvent } from '../pool.events';
import { imageSites } from '../pool.queries';
import type { PoolState } from '../pool.state';
import { active, existing } from './preconditions';

export function pushImage(command: PushImage, state: PoolState): PoolEvent[] {
  const pool = active(state, command.data.poolId);
  if (pool.imageStatus !== 'published')
    throw new IllegalStateError(
      'POOL.IMAGE_NOT_READY',
      `Pool ${pool.settings.name}'s image is ${pool.imageStatus}: push an image once it is published`,
    );
  if (pool.push)
    throw new IllegalStateError(
      'POOL.PUSH_IN_PROGRESS',
      `Pool ${pool.settings.name} is building pushed image task ${pool.push.image.taskId}: cancel it or wait`,
    );
  const { scheduled, ...data } = command.data;
  if (pool.scheduledPush && !scheduled)
    throw new IllegalStateError(
      'POOL.PUSH_SCHEDULED',
      `Pool ${pool.settings.name} has a push scheduled at ${pool.scheduledPush.startAt}: cancel it first`,
    );
  const { image } = data;
  const reasons: ErrorReason[] = [];
  if (imageSites(image).join() !== imageSites(pool.image).join()) {
    reasons.push({
      code: 'POOL.PUSH_PLACEMENT',
      detail: `A pushed image stands where the pool does: a parent on each of ${imageSites(pool.image).join(', ')} (host/datastore)`,
    });
  }
  if (reasons.length > 0)
    throw new ValidationError('POOL.INVALID', 'The pushed image does not fit the pool', reasons);
  return [{ type: 'PoolImagePushStarted', data }];
}

export function schedulePush(command: SchedulePush, state: PoolState): PoolEvent[] {
  const pool = active(state, command.data.poolId);
  if (pool.scheduledPush)
    throw new IllegalStateError(
      'POOL.PUSH_SCHEDULED',
      `Pool ${pool.settings.name} has a push scheduled at ${pool.scheduledPush.startAt}: cancel it first`,
    );
  return [{ type: 'PoolImagePushScheduled', data: command.data }];
}

/** The end of an image build: the pool's first image, or a pushed one. */
export function recordImageBuilt(
  command: RecordImagePublished | RecordImageFailed,
  state: PoolState,
): PoolEvent[] {
  const pool = existing(state, command.data.poolId);
  const { taskId } = command.data;
  if (pool.push?.image.taskId === taskId) {
    return command.type === 'RecordImagePublished'
      ? [{ type: 'PoolImagePushed', data: command.data }]
      : [{ type: 'PoolImagePushFailed', data: command.data }];
  }
  if (pool.image.taskId !== taskId || pool.imageStatus !== 'building')
    throw new IllegalStateError(
      'POOL.NOT_BUILDING',
      `Pool ${pool.settings.name} is not building image task ${taskId}`,
    );
  return command.type === 'RecordImagePublished'
    ? [{ type: 'PoolImagePublished', data: command.data }]
    : [{ type: 'PoolImageFailed', data: command.data }];
}

export function unschedulePush(command: UnschedulePush, state: PoolState): PoolEvent[] {
  const pool = existing(state, command.data.poolId);
  if (!pool.scheduledPush)
    throw new NotFoundError(
      'POOL.NO_SCHEDULED_PUSH',
      `Pool ${pool.settings.name} has no push scheduled`,
    );
  return [{ type: 'PoolImagePushUnscheduled', data: command.data }];
}
