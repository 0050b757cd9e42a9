import { VmOrigin } from '@dolly/domain';
import { type Static, Type } from '@sinclair/typebox';
import type { LineageRow } from './vm-lineage.query';

export const LineageNodeView = Type.Object(
  {
    vmId: Type.String({ format: 'uuid' }),
    derivesFrom: Type.Union([Type.String({ format: 'uuid' }), Type.Null()], {
      description: 'The VM or template it was cloned or forked from; null: made new or imported.',
    }),
    depth: Type.Integer({ minimum: 0, description: 'Links from the VM asked about.' }),
    name: Type.String(),
    role: Type.String({ description: 'vm or template, as it was then.' }),
    state: Type.Union([Type.Literal('present'), Type.Literal('deleted'), Type.Literal('failed')], {
      description: 'failed: its disks were never made.',
    }),
    createdAt: Type.String({ format: 'date-time' }),
    poolId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
    origin: VmOrigin,
    snapshotName: Type.Union([Type.String(), Type.Null()], {
      description: 'A linked clone: the name of the snapshot it stands on.',
    }),
    package: Type.Union([Type.Unknown(), Type.Null()], {
      description: 'Imported: the package’s provenance (name, digests, certificate subject).',
    }),
  },
  { description: 'A VM or template in a lineage, as it was at the instant asked about.' },
);
export type LineageNodeView = Static<typeof LineageNodeView>;

export const LineageView = Type.Object({
  subject: Type.Object(
    {
      type: Type.Union([
        Type.Literal('vm'),
        Type.Literal('disk'),
        Type.Literal('layer'),
        Type.Literal('package'),
      ]),
      id: Type.String(),
    },
    { description: 'What the lineage was asked of: a VM, a disk, a layer or a package.' },
  ),
  vmId: Type.String({
    format: 'uuid',
    description:
      'The VM it is of: the one asked about, the disk’s, the layer’s maker, the first VM imported from the package.',
  }),
  direction: Type.Union([Type.Literal('ancestors'), Type.Literal('descendants')]),
  asOf: Type.Union([Type.String(), Type.Null()]),
  nodes: Type.Array(LineageNodeView, {
    description:
      'The VM first; then its ancestors, nearest first, or its descendants, depth first (each after the one it derives from).',
  }),
  truncated: Type.Boolean({ description: 'More descendants than `limit`: the rest left out.' }),
});
export type LineageView = Static<typeof LineageView>;

export function lineageNodeView(row: LineageRow): LineageNodeView {
  return {
    vmId: row.vm_id,
    derivesFrom: row.derives_from,
    depth: row.depth,
    name: row.name,
    role: row.role,
    state:
      row.ended === 'VmDeleted'
        ? 'deleted'
        : row.ended === 'VmProvisioningFailed'
          ? 'failed'
          : 'present',
    createdAt: row.created_at.toISOString(),
    poolId: row.pool_id,
    origin: row.origin as VmOrigin,
    snapshotName: row.snapshot_name,
    package: row.package,
  };
}
