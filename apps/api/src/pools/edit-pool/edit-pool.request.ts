import { InventoryName, PoolSettings } from '@dolly/domain';
import { type Static, Type } from '@sinclair/typebox';

export const EditPoolRequest = Type.Object(
  {
    name: Type.Optional(InventoryName('The pool’s name.')),
    maxMachines: Type.Optional(PoolSettings.properties.maxMachines),
    spareMachines: Type.Optional(PoolSettings.properties.spareMachines),
  },
  { additionalProperties: false, minProperties: 1, description: 'Settings to change.' },
);
export type EditPoolRequest = Static<typeof EditPoolRequest>;
