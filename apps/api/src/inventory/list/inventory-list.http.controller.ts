import { Controller, Get, Query } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { VM_ROLES } from '@dolly/domain';
import { type Principal, Requires, Validate } from '@dolly/platform';
import type { Instant } from '@dolly/read-models';
import { type Static, Type } from '@sinclair/typebox';
import { ListPools } from '../../pools/queries/pool.queries';
import { AsOfParam, optionalInstant } from '../../shared/as-of';
import { ApiOk, ApiProblems } from '../../shared/openapi';
import {
  type Page,
  PageQuery,
  badCursor,
  decodeCursor,
  encodeCursor,
  pageSchema,
} from '../../shared/pagination';
import { Caller } from '../../shared/request-context';
import { ListVms } from '../../vms/queries/vm.queries';
import { ListDatastores, ListHosts } from '../inventory.queries';

/** Each kind of object, in the order the inventory lists them: a VM's role is a kind of its own. */
const INVENTORY_KINDS = ['host', 'datastore', 'pool', ...VM_ROLES] as const;
type InventoryKind = (typeof INVENTORY_KINDS)[number];
const KIND_LIST = `^(${INVENTORY_KINDS.join('|')})(,(${INVENTORY_KINDS.join('|')}))*$`;

const InventoryQuery = Type.Object(
  {
    kinds: Type.Optional(
      Type.String({
        pattern: KIND_LIST,
        maxLength: 200,
        description: `Only these kinds, comma-separated: ${INVENTORY_KINDS.join(', ')} (a VM's role is its kind). Default: every kind.`,
      }),
    ),
    asOf: Type.Optional(AsOfParam),
    ...PageQuery,
  },
  { additionalProperties: false },
);
type InventoryQuery = Static<typeof InventoryQuery>;

const InventoryItem = Type.Object({
  type: Type.String({ description: 'host, datastore, pool or vm (its role says which kind).' }),
  id: Type.String(),
  object: Type.Unknown({ description: 'As GET of it shows it (then, with asOf).' }),
});
type InventoryItem = Static<typeof InventoryItem>;

/**
 * The whole inventory in one listing, now or as it was at an instant: hosts, datastores, pools,
 * then VMs by role (templates, golden images, replicas, parents, instant clones...), each kind
 * through its own listing (the same pages, the same as-of folds, the same views with their
 * disks and layers), so one answer never says what the kind's own endpoint would not.
 */
@ApiTags('inventory')
@ApiBearerAuth()
@Controller('inventory')
export class InventoryListController {
  constructor(private readonly queries: QueryBus) {}

  @Get()
  @Requires('inventory:read')
  @ApiOperation({
    summary: 'The whole inventory, now or as it was at an instant (asOf), in pages.',
    description:
      'Hosts, datastores, pools, then VMs by role, each as its own GET shows it (a VM with its disks and their layers). `kinds` keeps some kinds only; pages follow the kinds in that order.',
  })
  @ApiQuery({ name: 'kinds', required: false })
  @ApiQuery({ name: 'asOf', required: false, description: 'As it was at this instant.' })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'cursor', required: false })
  @ApiOk(pageSchema(InventoryItem))
  @ApiProblems(400)
  async list(
    @Query(new Validate(InventoryQuery)) query: InventoryQuery,
    @Caller() caller: Principal,
  ): Promise<Page<InventoryItem>> {
    const limit = query.limit ?? 50;
    const wanted = new Set(query.kinds?.split(',') ?? INVENTORY_KINDS);
    const kinds = INVENTORY_KINDS.filter((kind) => wanted.has(kind));
    const asOf = optionalInstant(query.asOf);
    const { kind: from, cursor } = kindCursor(query.cursor, kinds);
    const first = from ? kinds.indexOf(from) : 0;
    const items: InventoryItem[] = [];
    for (let at = first; at < kinds.length; at++) {
      const kind = kinds[at];
      const within = at === first ? cursor : undefined;
      const page = await this.pageOf(kind, limit - items.length, within, asOf, caller);
      items.push(...page.items);
      if (page.nextCursor) return { items, nextCursor: encodeCursor(`${kind}:${page.nextCursor}`) };
      const next = kinds[at + 1];
      if (items.length === limit)
        return { items, nextCursor: next ? encodeCursor(`${next}:`) : null };
    }
    return { items, nextCursor: null };
  }

  private async pageOf(
    kind: InventoryKind,
    limit: number,
    cursor: string | undefined,
    asOf: Instant | undefined,
    caller: Principal,
  ): Promise<Page<InventoryItem>> {
    const items = <View>(page: Page<View>, type: string, idOf: (view: View) => string) => ({
      items: page.items.map((object) => ({ type, id: idOf(object), object })),
      nextCursor: page.nextCursor,
    });
    switch (kind) {
      case 'host':
        return items(
          await this.queries.execute(new ListHosts(limit, cursor, asOf)),
          kind,
          (h) => h.hostId,
        );
      case 'datastore':
        return items(
          await this.queries.execute(new ListDatastores(limit, cursor, asOf)),
          kind,
          (d) => d.datastoreId,
        );
      case 'pool':
        return items(
          await this.queries.execute(new ListPools(limit, cursor, asOf)),
          kind,
          (p) => p.poolId,
        );
      default:
        return items(
          await this.queries.execute(new ListVms({ role: kind }, limit, cursor, caller, asOf)),
          'vm',
          (vm) => vm.vmId,
        );
    }
  }
}

/**
 * The kind a page starts in, and the cursor within it: from a cursor this listing issued for the
 * same kinds.
 */
function kindCursor(
  cursor: string | undefined,
  kinds: readonly InventoryKind[],
): { kind?: InventoryKind; cursor?: string } {
  const key = decodeCursor(cursor);
  if (key === undefined) return {};
  const at = key.indexOf(':');
  const kind = key.slice(0, at) as InventoryKind;
  if (at < 0 || !kinds.includes(kind)) throw badCursor();
  const within = key.slice(at + 1);
  return { kind, cursor: within === '' ? undefined : within };
}
