import type { PoolImageV1 } from '@dolly/domain';

/** The uuid numbered n: ids a test can read (0x5xx a parent, 0x6xx a task...). */
export const numberedId = (n: number) =>
  `0190f3a0-0000-7000-8000-${n.toString(16).padStart(12, '0')}`;

/** Image n of a one-host, one-datastore pool, as v1 events said it. */
export const poolImageV1 = (
  n: number,
  where: { hostId: string; datastoreId: string },
): PoolImageV1 => ({
  goldenVmId: numberedId(0x100),
  snapshotId: numberedId(0x200 + n),
  templateVmId: numberedId(0x300 + n),
  replicaVmId: numberedId(0x400 + n),
  parentVmId: numberedId(0x500 + n),
  ...where,
  taskId: numberedId(0x600 + n),
});
