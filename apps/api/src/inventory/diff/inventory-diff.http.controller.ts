import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { objectIdOf } from '@dolly/domain';
import { PG_POOL, type Principal, Requires, Validate } from '@dolly/platform';
import {
  type DatastoreRow,
  type HostRow,
  type Instant,
  NOW,
  type PoolRow,
  type StateProjection,
  type VmRow,
  asEntity,
  datastoresProjection,
  hostsProjection,
  objectsAsOf,
  poolsProjection,
  streamsChangedBetween,
  vmsProjection,
} from '@dolly/read-models';
import { type Static, Type } from '@sinclair/typebox';
import type { Pool } from 'pg';
import { poolView } from '../../pools/queries/pool.representation';
import { AsOfParam, instantOf } from '../../shared/as-of';
import { ApiOk, ApiProblems } from '../../shared/openapi';
import { Caller } from '../../shared/request-context';
import { vmView } from '../../vms/queries/vm.representation';
import { datastoreView, hostView } from '../inventory.representation';
import { fieldChanges } from './field-changes';
import { InventoryDiffView } from './inventory-diff.representation';

const InventoryDiffQuery = Type.Object(
  {
    from: AsOfParam,
    to: Type.Optional(AsOfParam),
    limit: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 5000,
        description: 'At most this many objects compared (default 1000).',
      }),
    ),
  },
  { additionalProperties: false },
);
type InventoryDiffQuery = Static<typeof InventoryDiffQuery>;

/** The fields every change moves: left out of what a diff says changed. */
const BOOKKEEPING = ['updatedAt', 'version'];

/** One kind of object: its representations as of an instant, with their names, by id. */
function kind<State, Row, View>(
  projection: StateProjection<State>,
  view: (row: Row, reader: Principal) => View,
  nameOf: (view: View) => string,
) {
  return async (pool: Pool, instant: Instant, ids: string[], reader: Principal) =>
    new Map(
      (await objectsAsOf(pool, projection, instant, ids)).map((row) => {
        const shown = view(asEntity<Row, State>(projection, row), reader);
        return [row.id, { name: nameOf(shown), shown }];
      }),
    );
}
const KINDS = {
  host: kind(
    hostsProjection,
    (row: HostRow) => hostView(row),
    (host) => host.name,
  ),
  datastore: kind(
    datastoresProjection,
    (row: DatastoreRow) => datastoreView(row),
    (datastore) => datastore.name,
  ),
  vm: kind(
    vmsProjection,
    (row: VmRow, reader) => vmView(row, reader),
    (vm) => vm.name,
  ),
  pool: kind(
    poolsProjection,
    (row: PoolRow) => poolView(row),
    (pool) => pool.settings.name,
  ),
};

/**
 * What changed in the inventory between two instants: the hosts, datastores, VMs and pools
 * created, deleted and changed, each change by field, from the representations as of each.
 */
@ApiTags('inventory')
@ApiBearerAuth()
@Controller('inventory')
export class InventoryDiffController {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  @Get('diff')
  @Requires('inventory:read')
  @ApiOperation({
    summary:
      'What was created, changed (which fields, from what to what) and deleted in the inventory between two instants (from, to: an RFC 3339 time or a global position; to defaults to now).',
  })
  @ApiOk(InventoryDiffView)
  @ApiProblems(400)
  async diff(
    @Query(new Validate(InventoryDiffQuery)) query: InventoryDiffQuery,
    @Caller() caller: Principal,
  ): Promise<InventoryDiffView> {
    const from = instantOf(query.from);
    const to = query.to === undefined ? NOW : instantOf(query.to);
    const limit = query.limit ?? 1000;
    const streams = await streamsChangedBetween(this.pool, Object.keys(KINDS), from, to, limit + 1);
    const answer: InventoryDiffView = {
      from: query.from,
      to: query.to ?? null,
      created: [],
      deleted: [],
      changed: [],
      truncated: streams.length > limit,
    };
    for (const [type, viewsAsOf] of Object.entries(KINDS)) {
      const ids = streams
        .slice(0, limit)
        .filter((s) => s.startsWith(`${type}-`))
        .map(objectIdOf);
      if (ids.length === 0) continue;
      const before = await viewsAsOf(this.pool, from, ids, caller);
      const after = await viewsAsOf(this.pool, to, ids, caller);
      for (const id of ids) {
        const [was, is] = [before.get(id), after.get(id)];
        if (!was && is) answer.created.push({ type, id, name: is.name, object: is.shown });
        else if (was && !is) answer.deleted.push({ type, id, name: was.name, object: was.shown });
        else if (was && is) {
          const changes = fieldChanges(was.shown, is.shown, BOOKKEEPING);
          if (changes.length > 0) answer.changed.push({ type, id, name: is.name, changes });
        }
      }
    }
    return answer;
  }
}
