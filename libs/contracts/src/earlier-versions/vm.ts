import {
  Uuid,
  type VmBlockMapsMeasured,
  type VmCreated,
  VmCreatedData,
  VmOrigin,
  VmDeletionRequestedData,
  type VmEvent,
  VmPowerChangeRequestedData,
  runsOf,
} from '@dolly/domain';
import { type Static, Type } from '@sinclair/typebox';
import { type EarlierVersion, without } from './earlier-version';

/** Before v2 no VM recorded its pool: a pool's instant clones named it in their origin. */
export const vmCreatedFromV1 = (data: unknown): VmCreated['data'] => {
  const v1 = data as Omit<VmCreated['data'], 'poolId'>;
  return { ...v1, poolId: v1.origin.kind === 'fork' ? v1.origin.poolId : null };
};

/** Before v2 nothing could be forced past a pool's protection. */
const notForced = (data: unknown) => ({ ...(data as object), forced: false });

/** VmBlockMapsMeasured v1, as published: one entry per extent, and one event however large. */
const DiskBlockMapV1 = Type.Object(
  {
    diskId: Uuid('The disk.'),
    topLayerId: Type.String({ minLength: 1 }),
    capacityBytes: Type.Integer({ minimum: 0 }),
    allocatedBytes: Type.Integer({
      minimum: 0,
      description: 'Virtual bytes some layer of its chain holds. In bytes.',
    }),
    extents: Type.Array(
      Type.Object(
        {
          offsetBytes: Type.Integer({ minimum: 0 }),
          lengthBytes: Type.Integer({ minimum: 1 }),
          layerId: Type.String({ description: 'The layer that answers for the range.' }),
          zero: Type.Boolean({
            description: 'Held, but reads as zeros (zero clusters, preallocation).',
          }),
          shared: Type.Boolean({
            description:
              'The layer is read by other disks too (a template, a snapshot a clone stands on).',
          }),
        },
        { additionalProperties: false },
      ),
      { description: 'Allocated ranges, merged, in offset order.' },
    ),
    bytesPerLayer: Type.Array(
      Type.Object(
        {
          layerId: Type.String(),
          mappedBytes: Type.Integer({ minimum: 0 }),
          shared: Type.Boolean(),
        },
        { additionalProperties: false },
      ),
      { description: 'The chain, top first (its lineage), with the bytes each layer answers for.' },
    ),
  },
  { additionalProperties: false },
);
const VmBlockMapsMeasuredDataV1 = Type.Object(
  {
    vmId: Uuid('The VM.'),
    taskId: Uuid('The task doing the work.'),
    disks: Type.Array(DiskBlockMapV1),
  },
  {
    additionalProperties: false,
    description:
      'A worker measured which layer holds each range of the VM’s disks, after changing them.',
  },
);

/** Before v2 a measure was one event, each extent listed: now runs of extents, in parts. */
export const vmBlockMapsMeasuredFromV1 = (data: unknown): VmBlockMapsMeasured['data'] => {
  const v1 = data as Static<typeof VmBlockMapsMeasuredDataV1>;
  return {
    vmId: v1.vmId,
    taskId: v1.taskId,
    part: 1,
    parts: 1,
    disks: v1.disks.map(({ extents, ...disk }) => ({
      ...disk,
      runs: runsOf({ extents, bytesPerLayer: disk.bytesPerLayer }),
      continued: false,
    })),
  };
};

/** VmCreated v2: a VM came to be new, as a clone or as a fork; v3 added imported from a package. */
const VmCreatedDataV2 = Type.Object(
  {
    ...VmCreatedData.properties,
    origin: Type.Union(
      VmOrigin.anyOf.filter((origin) => origin.properties.kind.const !== 'import'),
      { description: VmOrigin.description },
    ),
  },
  { additionalProperties: false, description: VmCreatedData.description },
);

/** Every v2 VmCreated is a v3 one as it is. */
export const vmCreatedFromV2 = (data: unknown): unknown => data;

export const VM_EVENT_EARLIER_VERSIONS: Partial<
  Record<VmEvent['type'], readonly EarlierVersion[]>
> = {
  VmCreated: [
    { schema: without(VmCreatedDataV2, ['poolId']), upcastToNext: vmCreatedFromV1 },
    { schema: VmCreatedDataV2, upcastToNext: vmCreatedFromV2 },
  ],
  VmPowerChangeRequested: [
    { schema: without(VmPowerChangeRequestedData, ['forced']), upcastToNext: notForced },
  ],
  VmDeletionRequested: [
    { schema: without(VmDeletionRequestedData, ['forced']), upcastToNext: notForced },
  ],
  VmBlockMapsMeasured: [
    { schema: VmBlockMapsMeasuredDataV1, upcastToNext: vmBlockMapsMeasuredFromV1 },
  ],
};
