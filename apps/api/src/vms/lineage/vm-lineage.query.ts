import { type Instant, LIVE_SCHEMA, instantParameters, recordedBy } from '@dolly/read-models';
import type { Pool } from 'pg';

/**
 * A VM's lineage, read from the audit log (which keeps every event, deleted VMs' included): each
 * VM's VmCreated names where it came from (a clone's source, a fork's parent, a package or
 * nothing), so ancestors follow those links up and descendants follow them down, as of any
 * instant (only the events recorded by then count).
 */

export type LineageDirection = 'ancestors' | 'descendants';

/** The instant (null: now). */
export type AsOf = Instant | null;

export interface LineageRow {
  vm_id: string;
  derives_from: string | null;
  depth: number;
  name: string;
  role: string;
  ended: string | null;
  origin: Record<string, unknown>;
  pool_id: string | null;
  created_at: Date;
  snapshot_name: string | null;
  package: Record<string, unknown> | null;
}

const AUDIT_LOG = `${LIVE_SCHEMA}.audit_log`;
/** The VM a VmCreated's origin derives from; the same expression as the migration's index. */
const SOURCE = `coalesce(c.data->'origin'->>'sourceVmId', c.data->'origin'->>'parentVmId')`;
/** No lineage is deeper: a guard against a history that loops, which Dolly never records. */
const MAX_DEPTH = 64;

/** Only what was recorded by the instant asked for ($2, $3). */
const visible = (alias: string) => recordedBy(alias, 2);

/** Each VM of the walk as it was at the instant: its VmCreated and what changed it since. */
const NODES = `
  SELECT w.vm_id, w.derives_from, w.depth,
         coalesce((SELECT r.data->>'name' FROM ${AUDIT_LOG} r
                    WHERE r.stream_id = c.stream_id AND r.type = 'VmRenamed' AND ${visible('r')}
                    ORDER BY r.stream_version DESC LIMIT 1), c.data->>'name') AS name,
         coalesce((SELECT CASE r.type WHEN 'VmConvertedToTemplate' THEN 'template' ELSE 'vm' END
                     FROM ${AUDIT_LOG} r
                    WHERE r.stream_id = c.stream_id AND ${visible('r')}
                      AND r.type IN ('VmConvertedToTemplate', 'TemplateConvertedToVm')
                    ORDER BY r.stream_version DESC LIMIT 1), c.data->>'role') AS role,
         (SELECT r.type FROM ${AUDIT_LOG} r
           WHERE r.stream_id = c.stream_id AND ${visible('r')}
             AND r.type IN ('VmDeleted', 'VmProvisioningFailed') LIMIT 1) AS ended,
         c.data->'origin' AS origin, c.data->>'poolId' AS pool_id, c.occurred_at AS created_at,
         (SELECT r.data->>'name' FROM ${AUDIT_LOG} r
           WHERE r.stream_id = 'vm-' || (c.data->'origin'->>'sourceVmId') AND ${visible('r')}
             AND r.type = 'VmSnapshotTaken'
             AND r.data->>'snapshotId' = c.data->'origin'->>'snapshotId' LIMIT 1) AS snapshot_name,
         (SELECT r.data->'package' FROM ${AUDIT_LOG} r
           WHERE r.stream_id = c.stream_id AND r.type = 'VmImported' AND ${visible('r')}
           LIMIT 1) AS package
    FROM walk w
    JOIN ${AUDIT_LOG} c ON c.stream_id = 'vm-' || w.vm_id AND c.type = 'VmCreated' AND ${visible('c')}`;

const ANCESTORS = `
  WITH RECURSIVE walk (vm_id, derives_from, depth, path) AS (
    SELECT $1::text, s.source, 0, ARRAY[$1::text]
      FROM (SELECT ${SOURCE} AS source FROM ${AUDIT_LOG} c
             WHERE c.stream_id = 'vm-' || $1::text AND c.type = 'VmCreated' AND ${visible('c')}) s
    UNION ALL
    SELECT w.derives_from, s.source, w.depth + 1, w.path || w.derives_from
      FROM walk w
      CROSS JOIN LATERAL (SELECT ${SOURCE} AS source FROM ${AUDIT_LOG} c
                           WHERE c.stream_id = 'vm-' || w.derives_from AND c.type = 'VmCreated'
                             AND ${visible('c')}) s
     WHERE w.derives_from IS NOT NULL AND w.depth < ${MAX_DEPTH} AND NOT w.derives_from = ANY(w.path)
  )
  ${NODES}
   ORDER BY w.depth
   LIMIT $4`;

const DESCENDANTS = `
  WITH RECURSIVE walk (vm_id, derives_from, depth, path) AS (
    SELECT $1::text, NULL::text, 0, ARRAY[$1::text]
    UNION ALL
    SELECT c.data->>'vmId', w.vm_id, w.depth + 1, w.path || (c.data->>'vmId')
      FROM walk w
      JOIN ${AUDIT_LOG} c ON c.type = 'VmCreated' AND ${SOURCE} = w.vm_id AND ${visible('c')}
     WHERE w.depth < ${MAX_DEPTH} AND NOT (c.data->>'vmId') = ANY(w.path)
  )
  ${NODES}
   ORDER BY w.path
   LIMIT $4`;

/**
 * The VM and its ancestors (nearest first, up to what it was first made from), or the VM and
 * every VM and template that derives from it (depth first); at most `limit` of them, the VM first.
 * An empty answer: no such VM at that instant.
 */
export async function vmLineage(
  pool: Pool,
  vmId: string,
  direction: LineageDirection,
  asOf: AsOf,
  limit: number,
): Promise<LineageRow[]> {
  const { rows } = await pool.query<LineageRow>(
    direction === 'ancestors' ? ANCESTORS : DESCENDANTS,
    [vmId, ...instantParameters(asOf), limit],
  );
  return rows;
}

/** What else a lineage may be asked of: each resolves to VMs, whose lineage answers. */
export type LineageSubject = 'disk' | 'layer' | 'package';

/** The VM a stream of the audit log is the history of. */
const VM_OF = `substring(c.stream_id from 4)`;
const naming = (key: string) => `jsonb_build_array(jsonb_build_object('${key}', $1::text))`;

const RESOLVE: Record<LineageSubject, string> = {
  // A disk belongs to the VM made with it: a clone's disks are new ones.
  disk: `SELECT ${VM_OF} AS vm_id FROM ${AUDIT_LOG} c
          WHERE c.type = 'VmCreated' AND c.data->'disks' @> ${naming('diskId')} AND ${visible('c')}
          ORDER BY c.global_position LIMIT 1`,
  // A layer comes from the VM whose disk first wrote to it (its placement), or that froze it.
  layer: `SELECT ${VM_OF} AS vm_id FROM ${AUDIT_LOG} c
           WHERE c.stream_type = 'vm' AND ${visible('c')}
             AND (c.data->'disks' @> ${naming('layerId')} OR c.data->'layers' @> ${naming('layerId')})
           ORDER BY c.global_position LIMIT 1`,
  // Every VM or template imported from the package (its descriptor's digest), oldest first.
  package: `SELECT ${VM_OF} AS vm_id FROM ${AUDIT_LOG} c
             WHERE c.type = 'VmCreated' AND c.data->'origin'->>'kind' = 'import'
               AND c.data->'origin'->>'descriptorSha256' = $1::text AND ${visible('c')}
             ORDER BY c.global_position`,
};

/** The VMs a disk, a layer or a package resolves to at the instant: none when unknown then. */
export async function lineageRoots(
  pool: Pool,
  subject: LineageSubject,
  id: string,
  asOf: AsOf,
): Promise<string[]> {
  const { rows } = await pool.query<{ vm_id: string }>(RESOLVE[subject], [
    id,
    ...instantParameters(asOf),
  ]);
  return rows.map((row) => row.vm_id);
}
