import { deciderSpecification } from '@dolly/testing';
import type { DatastoreState } from '../datastore/datastore';
import type { HostState } from '../host/host';
import type { VmCreated, VmEvent } from './vm.events';
import { type CreateVm, type VmContext, vmDecider } from './vm';

const vmId = '0190f3a0-0000-7000-8000-000000000001';
const hostId = '0190f3a0-0000-7000-8000-0000000000a1';
const datastoreId = '0190f3a0-0000-7000-8000-0000000000d1';

const host: HostState = {
  status: 'registered',
  hostId,
  name: 'esx-01',
  cpuCores: 16,
  memoryBytes: 64 * 1024 ** 3,
  maxHardwareVersion: 'vmx-19',
  management: 'managed',
};
const datastore: DatastoreState = {
  status: 'registered',
  datastoreId,
  name: 'ds-01',
  capacityBytes: 1024 ** 4,
  folder: '/srv/ds-01',
  overcommitRatio: 2,
};
const placed: VmContext = { host, datastore };

const definition: CreateVm['data'] = {
  vmId,
  name: 'web-01',
  folder: '/dc/vm',
  hostId,
  datastoreId,
  hardware: {
    vcpus: 2,
    memoryBytes: 4 * 1024 ** 3,
    hardwareVersion: 'vmx-19',
    guestOs: 'ubuntu64Guest',
  },
  disks: [
    {
      diskId: '0190f3a0-0000-7000-8000-00000000d151',
      label: 'Hard disk 1',
      capacityBytes: 16 * 1024 ** 3,
      format: 'thin',
    },
  ],
  nics: [{ macAddress: '02:00:00:00:00:01', network: 'VM Network' }],
  biosUuid: '0190f3a0-0000-7000-8000-0000000000b1',
};

const created: VmCreated = { type: 'VmCreated', data: { ...definition, role: 'vm' } };
const poweredOn: VmEvent = { type: 'VmPoweredOn', data: { vmId, resumedFromSuspend: false } };
const suspended: VmEvent = { type: 'VmSuspended', data: { vmId } };
const poweredOff: VmEvent = { type: 'VmPoweredOff', data: { vmId } };
const toTemplate: VmEvent = { type: 'VmConvertedToTemplate', data: { vmId } };
const deleted: VmEvent = { type: 'VmDeleted', data: { vmId } };

const spec = deciderSpecification(vmDecider, placed);

describe('VM', () => {
  describe('when it does not exist', () => {
    it('is created powered off as a plain VM', () => {
      spec.given([]).when({ type: 'CreateVm', data: definition }).then([created]);
    });

    it('refuses a placement that breaks every host rule at once, listing each', () => {
      const tooBig = {
        ...definition,
        hardware: {
          ...definition.hardware,
          vcpus: 32,
          memoryBytes: 128 * 1024 ** 3,
          hardwareVersion: 'vmx-21',
        },
      };
      spec
        .given([])
        .when({ type: 'CreateVm', data: tooBig })
        .thenThrows('VM.PLACEMENT_REFUSED', [
          'HOST.HARDWARE_VERSION_UNSUPPORTED',
          'HOST.NOT_ENOUGH_CPUS',
          'HOST.NOT_ENOUGH_MEMORY',
        ]);
    });

    it('refuses an unknown host and datastore together', () => {
      spec
        .given([], {})
        .when({ type: 'CreateVm', data: definition })
        .thenThrows('VM.PLACEMENT_REFUSED', ['HOST.NOT_FOUND', 'DATASTORE.NOT_FOUND']);
    });

    it('refuses repeated disk ids, labels and MAC addresses', () => {
      const disk = definition.disks[0];
      const nic = definition.nics[0];
      spec
        .given([])
        .when({ type: 'CreateVm', data: { ...definition, disks: [disk, disk], nics: [nic, nic] } })
        .thenThrows('VM.INVALID', [
          'VM.DUPLICATE_DISK_ID',
          'VM.DUPLICATE_DISK_LABEL',
          'VM.DUPLICATE_MAC_ADDRESS',
        ]);
    });

    it('cannot be powered on', () => {
      spec.given([]).when({ type: 'PowerOnVm', data: { vmId } }).thenThrows('VM.NOT_FOUND');
    });
  });

  describe('when powered off', () => {
    it('cannot be created twice', () => {
      spec
        .given([created])
        .when({ type: 'CreateVm', data: definition })
        .thenThrows('VM.ALREADY_EXISTS');
    });

    it('powers on', () => {
      spec.given([created]).when({ type: 'PowerOnVm', data: { vmId } }).then([poweredOn]);
    });

    it('refuses to power off again', () => {
      spec
        .given([created])
        .when({ type: 'PowerOffVm', data: { vmId } })
        .thenThrows('VM.ALREADY_POWERED_OFF');
    });

    it('cannot be suspended', () => {
      spec
        .given([created])
        .when({ type: 'SuspendVm', data: { vmId } })
        .thenThrows('VM.NOT_POWERED_ON');
    });

    it('is renamed, remembering the previous name', () => {
      spec
        .given([created])
        .when({ type: 'RenameVm', data: { vmId, name: 'web-02' } })
        .then([{ type: 'VmRenamed', data: { vmId, name: 'web-02', previousName: 'web-01' } }]);
    });

    it('renaming to the same name changes nothing', () => {
      spec
        .given([created])
        .when({ type: 'RenameVm', data: { vmId, name: 'web-01' } })
        .thenNothingHappened();
    });

    it('is deleted', () => {
      spec.given([created]).when({ type: 'DeleteVm', data: { vmId } }).then([deleted]);
    });

    it('converts to a template', () => {
      spec
        .given([created])
        .when({ type: 'ConvertVmToTemplate', data: { vmId } })
        .then([toTemplate]);
    });
  });

  describe('when powered on', () => {
    it('refuses to be deleted', () => {
      spec
        .given([created, poweredOn])
        .when({ type: 'DeleteVm', data: { vmId } })
        .thenThrows('VM.NOT_POWERED_OFF');
    });

    it('refuses to be converted to a template', () => {
      spec
        .given([created, poweredOn])
        .when({ type: 'ConvertVmToTemplate', data: { vmId } })
        .thenThrows('VM.NOT_POWERED_OFF');
    });

    it('refuses to power on again', () => {
      spec
        .given([created, poweredOn])
        .when({ type: 'PowerOnVm', data: { vmId } })
        .thenThrows('VM.ALREADY_POWERED_ON');
    });

    it('suspends', () => {
      spec
        .given([created, poweredOn])
        .when({ type: 'SuspendVm', data: { vmId } })
        .then([suspended]);
    });

    it('powers off', () => {
      spec
        .given([created, poweredOn])
        .when({ type: 'PowerOffVm', data: { vmId } })
        .then([poweredOff]);
    });
  });

  describe('when suspended', () => {
    it('resumes from its memory image on power on', () => {
      spec
        .given([created, poweredOn, suspended])
        .when({ type: 'PowerOnVm', data: { vmId } })
        .then([{ type: 'VmPoweredOn', data: { vmId, resumedFromSuspend: true } }]);
    });

    it('powers off', () => {
      spec
        .given([created, poweredOn, suspended])
        .when({ type: 'PowerOffVm', data: { vmId } })
        .then([poweredOff]);
    });

    it('refuses to be deleted', () => {
      spec
        .given([created, poweredOn, suspended])
        .when({ type: 'DeleteVm', data: { vmId } })
        .thenThrows('VM.NOT_POWERED_OFF');
    });
  });

  describe('when a template', () => {
    it('cannot be powered on', () => {
      spec
        .given([created, toTemplate])
        .when({ type: 'PowerOnVm', data: { vmId } })
        .thenThrows('VM.IS_TEMPLATE');
    });

    it('cannot be converted to a template again', () => {
      spec
        .given([created, toTemplate])
        .when({ type: 'ConvertVmToTemplate', data: { vmId } })
        .thenThrows('VM.NOT_CONVERTIBLE');
    });

    it('converts back to a VM', () => {
      spec
        .given([created, toTemplate])
        .when({ type: 'ConvertTemplateToVm', data: { vmId } })
        .then([{ type: 'TemplateConvertedToVm', data: { vmId } }]);
    });

    it('is deleted', () => {
      spec.given([created, toTemplate]).when({ type: 'DeleteVm', data: { vmId } }).then([deleted]);
    });
  });

  describe('when a plain VM', () => {
    it('cannot be converted back to a VM', () => {
      spec
        .given([created])
        .when({ type: 'ConvertTemplateToVm', data: { vmId } })
        .thenThrows('VM.NOT_A_TEMPLATE');
    });
  });

  describe('when deleted', () => {
    it('is gone for every command', () => {
      spec
        .given([created, deleted])
        .when({ type: 'PowerOnVm', data: { vmId } })
        .thenThrows('VM.NOT_FOUND');
      spec
        .given([created, deleted])
        .when({ type: 'RenameVm', data: { vmId, name: 'x' } })
        .thenThrows('VM.NOT_FOUND');
      spec
        .given([created, deleted])
        .when({ type: 'CreateVm', data: definition })
        .thenThrows('VM.ALREADY_EXISTS');
    });
  });
});
