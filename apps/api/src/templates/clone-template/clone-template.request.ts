import { type Static, Type } from '@sinclair/typebox';
import { cloneTargetFields } from '../../vms/clone-vm/clone-vm.request';

export const CloneTemplateRequest = Type.Object(
  {
    ...cloneTargetFields,
    linked: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Stand on the template’s frozen disks, no copy.',
      }),
    ),
  },
  { additionalProperties: false, description: 'A new template copied from a template.' },
);
export type CloneTemplateRequest = Static<typeof CloneTemplateRequest>;
