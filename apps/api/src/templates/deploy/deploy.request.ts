import { VirtualHardware } from '@dolly/domain';
import { type Static, Type } from '@sinclair/typebox';
import { cloneTargetFields } from '../../vms/clone-vm/clone-vm.request';

export const DeployRequest = Type.Object(
  {
    ...cloneTargetFields,
    linked: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Stand on the template’s frozen disks, no copy.',
      }),
    ),
    hardware: Type.Optional(
      Type.Object(
        {
          vcpus: Type.Optional(VirtualHardware.properties.vcpus),
          memoryBytes: Type.Optional(VirtualHardware.properties.memoryBytes),
        },
        { additionalProperties: false, description: 'What differs from the template.' },
      ),
    ),
    powerOn: Type.Optional(
      Type.Boolean({ default: false, description: 'Power the VM on when it is made.' }),
    ),
  },
  {
    additionalProperties: false,
    description: 'A VM deployed from a template: a straight copy, no snapshot or consolidation.',
  },
);
export type DeployRequest = Static<typeof DeployRequest>;
