import { ForbiddenError } from '@dolly/domain';
import { type Static, Type } from '@sinclair/typebox';
import type { RequestContext } from '../shared/request-context';

/**
 * `?force=true`: an admin acting on a pool's desktop outside its pool (power, delete), past the
 * pool's protection; the event records it. Nobody forces a pool's internal template, replicas or
 * parents, and no other role forces anything.
 */
export const ForceQuery = Type.Object(
  {
    force: Type.Optional(
      Type.Boolean({
        description:
          'admin only: power or delete a pool’s desktop outside its pool (recorded in the event). Without it, a pool’s VMs are refused (409 VM.MANAGED_BY_POOL).',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ForceQuery = Static<typeof ForceQuery>;

export function forced(query: ForceQuery, context: RequestContext): boolean {
  if (!query.force) return false;
  if (context.principal.role !== 'admin')
    throw new ForbiddenError(
      'AUTH.FORCE_NEEDS_ADMIN',
      `The ${context.principal.role} role may not force: only an admin acts on a pool's desktop outside its pool`,
    );
  return true;
}
