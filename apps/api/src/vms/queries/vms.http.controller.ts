import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { POWER_STATES, StringEnum, Uuid, VM_ROLES, vmStreamId } from '@dolly/domain';
import { type Principal, Requires, Validate } from '@dolly/platform';
import { type Static, Type } from '@sinclair/typebox';
import type { Response } from 'express';
import { AuditEntryView } from '../../audit/audit.representation';
import { StreamAuditLog } from '../../audit/audit.queries';
import { AsOfParam, AsOfQuery, optionalInstant } from '../../shared/as-of';
import { ApiOk, ApiProblems } from '../../shared/openapi';
import { Caller } from '../../shared/request-context';
import { type Page, PageQuery, pageSchema } from '../../shared/pagination';
import { VmIdParam } from '../vm-id.param';
import { ListVms, GetVm } from './vm.queries';
import { VmView } from './vm.representation';

const ListVmsQuery = Type.Object(
  {
    role: Type.Optional(StringEnum(VM_ROLES, 'Only VMs in this role.')),
    powerState: Type.Optional(StringEnum(POWER_STATES, 'Only VMs in this power state.')),
    hostId: Type.Optional(Uuid('Only VMs on this host.')),
    datastoreId: Type.Optional(Uuid('Only VMs on this datastore.')),
    asOf: Type.Optional(AsOfParam),
    ...PageQuery,
  },
  { additionalProperties: false },
);
type ListVmsQuery = Static<typeof ListVmsQuery>;

const AuditQuery = Type.Object(PageQuery, { additionalProperties: false });
type AuditQuery = Static<typeof AuditQuery>;

@ApiTags('vms')
@ApiBearerAuth()
@Controller('vms')
export class VmsQueryController {
  constructor(private readonly queries: QueryBus) {}

  @Get()
  @Requires('inventory:read')
  @ApiOperation({ summary: 'List VMs and templates, filtered, in pages (oldest first).' })
  @ApiQuery({ name: 'role', required: false, enum: VM_ROLES })
  @ApiQuery({ name: 'powerState', required: false, enum: POWER_STATES })
  @ApiQuery({ name: 'hostId', required: false })
  @ApiQuery({ name: 'datastoreId', required: false })
  @ApiQuery({ name: 'asOf', required: false, description: 'As it was at this instant.' })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'cursor', required: false })
  @ApiOk(pageSchema(VmView))
  @ApiProblems(400)
  list(
    @Query(new Validate(ListVmsQuery)) query: ListVmsQuery,
    @Caller() caller: Principal,
  ): Promise<Page<VmView>> {
    const { limit = 50, cursor, asOf, ...filter } = query;
    return this.queries.execute(new ListVms(filter, limit, cursor, caller, optionalInstant(asOf)));
  }

  @Get(':vmId')
  @Requires('inventory:read')
  @ApiOperation({
    summary:
      'One VM or template, now or as it was at an instant (asOf). The ETag is its version, for If-Match on commands.',
  })
  @ApiQuery({ name: 'asOf', required: false, description: 'As it was at this instant.' })
  @ApiOk(VmView)
  @ApiProblems(400, 404)
  async get(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Query(new Validate(AsOfQuery)) query: AsOfQuery,
    @Res({ passthrough: true }) response: Response,
    @Caller() caller: Principal,
  ): Promise<VmView> {
    const vm = await this.queries.execute(new GetVm(vmId, caller, optionalInstant(query.asOf)));
    response.setHeader('ETag', `"${vm.version}"`);
    return vm;
  }

  @Get(':vmId/audit-log')
  @Requires('audit:read')
  @ApiOperation({
    summary:
      'Every recorded change to a VM, with who made it and when, oldest first (kept after it is deleted).',
  })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'cursor', required: false })
  @ApiOk(pageSchema(AuditEntryView))
  @ApiProblems(400)
  auditLog(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Query(new Validate(AuditQuery)) query: AuditQuery,
    @Caller() caller: Principal,
  ): Promise<Page<AuditEntryView>> {
    return this.queries.execute(
      new StreamAuditLog(vmStreamId(vmId), query.limit ?? 50, query.cursor, caller),
    );
  }
}
