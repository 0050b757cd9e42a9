import { type Static, Type } from '@sinclair/typebox';

const ObjectRef = {
  type: Type.String({ description: 'host, datastore, vm or pool.' }),
  id: Type.String(),
  name: Type.String(),
};
export const InventoryDiffView = Type.Object({
  from: Type.String(),
  to: Type.Union([Type.String(), Type.Null()], { description: 'null: now.' }),
  created: Type.Array(Type.Object({ ...ObjectRef, object: Type.Unknown() })),
  deleted: Type.Array(
    Type.Object({ ...ObjectRef, object: Type.Unknown({ description: 'As it was at `from`.' }) }),
  ),
  changed: Type.Array(
    Type.Object({
      ...ObjectRef,
      changes: Type.Array(
        Type.Object({ field: Type.String(), from: Type.Unknown(), to: Type.Unknown() }),
        { description: 'Each field that differs (a JSON pointer into the representation).' },
      ),
    }),
  ),
  truncated: Type.Boolean({ description: 'More objects changed than `limit`: the rest left out.' }),
});
export type InventoryDiffView = Static<typeof InventoryDiffView>;
