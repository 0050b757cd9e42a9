import { Uuid } from '@dolly/domain';
import { type Static, Type } from '@sinclair/typebox';

/** A running VM is exported from one of its snapshots; a powered-off VM or a template as it is. */
export const ExportVmQuery = Type.Object(
  { snapshotId: Type.Optional(Uuid('Export the VM as at this snapshot (needed while it runs).')) },
  { additionalProperties: false },
);
export type ExportVmQuery = Static<typeof ExportVmQuery>;
