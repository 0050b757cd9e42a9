import { deciderSpecification } from '@dolly/testing/pure';
import type { DatastoreState } from '../datastore/datastore';
import type { HostState } from '../host/host';
import type { LiveExport, VmCreated, VmEvent } from './vm.events';
import { type VmCommand, type VmContext, type VmDefinition, vmDecider } from './vm';

const vmId = '0190f3a0-0000-7000-8000-000000000001';
const hostId = '0190f3a0-0000-7000-8000-0000000000a1';
const datastoreId = '0190f3a0-0000-7000-8000-0000000000d1';
const diskId = '0190f3a0-0000-7000-8000-00000000d151';
const makeTask = '0190f3a0-0000-7000-8000-00000000f000';
const taskId = '0190f3a0-0000-7000-8000-00000000f001';
const snapshotId = '0190f3a0-0000-7000-8000-00000000a501';
const cloneId = '0190f3a0-0000-7000-8000-000000000002';

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
  adopted: false,
  claims: {},
  usage: null,
};
const placed: VmContext = { host, datastore };

const definition: VmDefinition = {
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
  disks: [{ diskId, label: 'Hard disk 1', capacityBytes: 16 * 1024 ** 3, format: 'thin' }],
  nics: [{ macAddress: '02:00:00:00:00:01', network: 'VM Network' }],
  biosUuid: '0190f3a0-0000-7000-8000-0000000000b1',
};

const placement = { diskId, layerId: 'layer-1', allocatedBytes: 200_000 };
const exported: LiveExport = {
  imageId: diskId,
  uri: 'nbd+unix:///d?socket=/run/w.sock',
  writable: true,
};
const memory: LiveExport = {
  imageId: 'mem-1',
  uri: 'nbd+unix:///m?socket=/run/w.sock',
  writable: true,
};

const created: VmCreated = {
  type: 'VmCreated',
  data: {
    ...definition,
    role: 'vm',
    origin: { kind: 'new' },
    provisioningTaskId: makeTask,
    poolId: null,
  },
};
const provisioned: VmEvent = {
  type: 'VmProvisioned',
  data: { vmId, taskId: makeTask, disks: [placement] },
};
const ready = [created, provisioned];
const powerRequested = (to: 'poweredOn' | 'poweredOff' | 'suspended', task = taskId): VmEvent => ({
  type: 'VmPowerChangeRequested',
  data: { vmId, taskId: task, to, forced: false },
});
const poweredOn = (task = taskId): VmEvent => ({
  type: 'VmPoweredOn',
  data: {
    vmId,
    taskId: task,
    resumedFromSuspend: false,
    workerId: 'w1',
    exports: [exported],
    memoryImage: memory,
  },
});
const running = [...ready, powerRequested('poweredOn', 'power-1'), poweredOn('power-1')];
const snapshotTaken: VmEvent[] = [
  {
    type: 'VmSnapshotRequested',
    data: { vmId, taskId: 'snap-1', snapshotId, name: 'before upgrade', description: '' },
  },
  {
    type: 'VmSnapshotTaken',
    data: {
      vmId,
      taskId: 'snap-1',
      snapshotId,
      name: 'before upgrade',
      description: '',
      parentSnapshotId: null,
      layers: [{ diskId, layerId: 'layer-1' }],
      disks: [{ diskId, layerId: 'layer-2', allocatedBytes: 0 }],
    },
  },
];
const toTemplate: VmEvent = { type: 'VmConvertedToTemplate', data: { vmId } };

const spec = deciderSpecification(vmDecider, placed);

describe('VM', () => {
  describe('when it does not exist', () => {
    it('is created powered off, its disks made by a task', () => {
      spec
        .given([])
        .when({ type: 'CreateVm', data: { ...definition, provisioningTaskId: makeTask } })
        .then([created]);
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
        .when({ type: 'CreateVm', data: { ...tooBig, provisioningTaskId: makeTask } })
        .thenThrows('VM.PLACEMENT_REFUSED', [
          'HOST.HARDWARE_VERSION_UNSUPPORTED',
          'HOST.NOT_ENOUGH_CPUS',
          'HOST.NOT_ENOUGH_MEMORY',
        ]);
    });

    it('refuses an unknown host and datastore together', () => {
      spec
        .given([], {})
        .when({ type: 'CreateVm', data: { ...definition, provisioningTaskId: makeTask } })
        .thenThrows('VM.PLACEMENT_REFUSED', ['HOST.NOT_FOUND', 'DATASTORE.NOT_FOUND']);
    });

    it('refuses repeated disk ids, labels and MAC addresses', () => {
      const disk = definition.disks[0];
      const nic = definition.nics[0];
      spec
        .given([])
        .when({
          type: 'CreateVm',
          data: {
            ...definition,
            disks: [disk, disk],
            nics: [nic, nic],
            provisioningTaskId: makeTask,
          },
        })
        .thenThrows('VM.INVALID', [
          'VM.DUPLICATE_DISK_ID',
          'VM.DUPLICATE_DISK_LABEL',
          'VM.DUPLICATE_MAC_ADDRESS',
        ]);
    });

    it('cannot be powered on', () => {
      spec
        .given([])
        .when({ type: 'RequestPowerChange', data: { vmId, taskId, to: 'poweredOn' } })
        .thenThrows('VM.NOT_FOUND');
    });
  });

  describe('while its disks are being made', () => {
    it('takes no operation', () => {
      spec
        .given([created])
        .when({ type: 'RequestPowerChange', data: { vmId, taskId, to: 'poweredOn' } })
        .thenThrows('VM.PROVISIONING');
      spec
        .given([created])
        .when({ type: 'DeleteVm', data: { vmId, taskId } })
        .thenThrows('VM.PROVISIONING');
    });

    it('becomes ready when its task reports the disks, and only its task', () => {
      spec
        .given([created])
        .when({ type: 'RecordProvisioned', data: { vmId, taskId: makeTask, disks: [placement] } })
        .then([provisioned]);
      spec
        .given([created])
        .when({ type: 'RecordProvisioned', data: { vmId, taskId: 'other', disks: [] } })
        .thenThrows('VM.NOT_PROVISIONING');
    });

    it('never comes to be when its task fails', () => {
      spec
        .given([created])
        .when({
          type: 'RecordProvisioningFailed',
          data: { vmId, taskId: makeTask, code: 'DISK.NO_SPACE', message: 'full' },
        })
        .then([
          {
            type: 'VmProvisioningFailed',
            data: { vmId, taskId: makeTask, code: 'DISK.NO_SPACE', message: 'full' },
          },
        ]);
    });
  });

  describe('when powered off', () => {
    it('starts powering on, then is on with its exports when the worker says so', () => {
      spec
        .given(ready)
        .when({ type: 'RequestPowerChange', data: { vmId, taskId, to: 'poweredOn' } })
        .then([powerRequested('poweredOn')]);
      spec
        .given([...ready, powerRequested('poweredOn')])
        .when({
          type: 'RecordPoweredOn',
          data: { vmId, taskId, workerId: 'w1', exports: [exported], memoryImage: memory },
        })
        .then([poweredOn()]);
    });

    it('takes one exclusive operation at a time', () => {
      spec
        .given([...ready, powerRequested('poweredOn')])
        .when({ type: 'DeleteVm', data: { vmId, taskId: 'x' } })
        .thenThrows('VM.BUSY');
    });

    it('refuses to power off again, or suspend', () => {
      spec
        .given(ready)
        .when({ type: 'RequestPowerChange', data: { vmId, taskId, to: 'poweredOff' } })
        .thenThrows('VM.ALREADY_POWERED_OFF');
      spec
        .given(ready)
        .when({ type: 'RequestPowerChange', data: { vmId, taskId, to: 'suspended' } })
        .thenThrows('VM.NOT_POWERED_ON');
    });

    it('is renamed, remembering the previous name; the same name changes nothing', () => {
      spec
        .given(ready)
        .when({ type: 'RenameVm', data: { vmId, name: 'web-02' } })
        .then([{ type: 'VmRenamed', data: { vmId, name: 'web-02', previousName: 'web-01' } }]);
      spec
        .given(ready)
        .when({ type: 'RenameVm', data: { vmId, name: 'web-01' } })
        .thenNothingHappened();
    });

    it('converts to a template, and back', () => {
      spec.given(ready).when({ type: 'ConvertVmToTemplate', data: { vmId } }).then([toTemplate]);
      spec
        .given([...ready, toTemplate])
        .when({ type: 'ConvertTemplateToVm', data: { vmId } })
        .then([{ type: 'TemplateConvertedToVm', data: { vmId } }]);
    });

    it('starts deleting, and is gone when the worker reports it', () => {
      spec
        .given(ready)
        .when({ type: 'DeleteVm', data: { vmId, taskId } })
        .then([{ type: 'VmDeletionRequested', data: { vmId, taskId, forced: false } }]);
      spec
        .given([...ready, { type: 'VmDeletionRequested', data: { vmId, taskId, forced: false } }])
        .when({ type: 'RecordDeleted', data: { vmId, taskId } })
        .then([{ type: 'VmDeleted', data: { vmId, taskId } }]);
    });

    it('stays when deleting fails', () => {
      const failing: VmEvent[] = [
        ...ready,
        { type: 'VmDeletionRequested', data: { vmId, taskId, forced: false } },
      ];
      spec
        .given(failing)
        .when({
          type: 'RecordTaskFailed',
          data: { vmId, taskId, code: 'DISK.BUSY', message: 'busy' },
        })
        .then([
          {
            type: 'VmTaskFailed',
            data: { vmId, taskId, operation: 'delete', code: 'DISK.BUSY', message: 'busy' },
          },
        ]);
      spec
        .given([
          ...failing,
          {
            type: 'VmTaskFailed',
            data: { vmId, taskId, operation: 'delete', code: 'DISK.BUSY', message: 'busy' },
          },
        ])
        .when({ type: 'RequestPowerChange', data: { vmId, taskId: 'p', to: 'poweredOn' } })
        .then([powerRequested('poweredOn', 'p')]);
    });
  });

  describe('when powered on', () => {
    it('refuses delete and convert', () => {
      spec
        .given(running)
        .when({ type: 'DeleteVm', data: { vmId, taskId } })
        .thenThrows('VM.NOT_POWERED_OFF');
      spec
        .given(running)
        .when({ type: 'ConvertVmToTemplate', data: { vmId } })
        .thenThrows('VM.NOT_POWERED_OFF');
    });

    it('may be cloned while it runs (crash-consistent)', () => {
      spec
        .given(running)
        .when({
          type: 'StartClone',
          data: {
            vmId,
            taskId,
            targetVmId: cloneId,
            linked: false,
            snapshotId: null,
            format: 'thin',
          },
        })
        .then([
          {
            type: 'VmBeingCloned',
            data: {
              vmId,
              taskId,
              targetVmId: cloneId,
              linked: false,
              snapshotId: null,
              format: 'thin',
            },
          },
        ]);
    });

    it('suspends, keeping its memory image, and resumes from it', () => {
      const suspended: VmEvent[] = [
        ...running,
        powerRequested('suspended'),
        { type: 'VmSuspended', data: { vmId, taskId } },
      ];
      spec
        .given(suspended)
        .when({ type: 'RequestPowerChange', data: { vmId, taskId: 't2', to: 'poweredOn' } })
        .then([powerRequested('poweredOn', 't2')]);
      spec
        .given([...suspended, powerRequested('poweredOn', 't2')])
        .when({
          type: 'RecordPoweredOn',
          data: { vmId, taskId: 't2', workerId: 'w1', exports: [exported], memoryImage: memory },
        })
        .then([
          {
            type: 'VmPoweredOn',
            data: {
              vmId,
              taskId: 't2',
              resumedFromSuspend: true,
              workerId: 'w1',
              exports: [exported],
              memoryImage: memory,
            },
          },
        ]);
    });
  });

  describe('cloning', () => {
    const beingCloned: VmEvent = {
      type: 'VmBeingCloned',
      data: { vmId, taskId, targetVmId: cloneId, linked: false, snapshotId: null, format: 'same' },
    };

    it('keeps the source from being deleted while a clone runs', () => {
      spec
        .given([...ready, beingCloned])
        .when({ type: 'DeleteVm', data: { vmId, taskId: 'd' } })
        .thenThrows('VM.BEING_CLONED');
    });

    it('lets clones of one source run side by side', () => {
      spec
        .given([...ready, beingCloned])
        .when({
          type: 'StartClone',
          data: {
            vmId,
            taskId: 't2',
            targetVmId: 'c2',
            linked: false,
            snapshotId: null,
            format: 'same',
          },
        })
        .then([
          {
            type: 'VmBeingCloned',
            data: {
              vmId,
              taskId: 't2',
              targetVmId: 'c2',
              linked: false,
              snapshotId: null,
              format: 'same',
            },
          },
        ]);
    });

    it('needs a snapshot (or a template) to stand a linked clone on, and no format', () => {
      spec
        .given(ready)
        .when({
          type: 'StartClone',
          data: {
            vmId,
            taskId,
            targetVmId: cloneId,
            linked: true,
            snapshotId: null,
            format: 'same',
          },
        })
        .thenThrows('CLONE.LINKED_NEEDS_SNAPSHOT');
      spec
        .given([...ready, ...snapshotTaken])
        .when({
          type: 'StartClone',
          data: { vmId, taskId, targetVmId: cloneId, linked: true, snapshotId, format: 'thin' },
        })
        .thenThrows('CLONE.LINKED_HAS_NO_FORMAT');
    });

    it('records a linked clone standing on it, refuses deletion while it stands, and lets it go', () => {
      const linked: VmEvent[] = [
        ...ready,
        ...snapshotTaken,
        {
          type: 'VmBeingCloned',
          data: { vmId, taskId, targetVmId: cloneId, linked: true, snapshotId, format: 'same' },
        },
      ];
      spec
        .given(linked)
        .when({
          type: 'FinishClone',
          data: { vmId, taskId, targetVmId: cloneId, outcome: 'succeeded' },
        })
        .then([
          {
            type: 'VmCloneFinished',
            data: { vmId, taskId, targetVmId: cloneId, outcome: 'succeeded', linked: true },
          },
        ]);
      const standing: VmEvent[] = [
        ...linked,
        {
          type: 'VmCloneFinished',
          data: { vmId, taskId, targetVmId: cloneId, outcome: 'succeeded', linked: true },
        },
      ];
      spec
        .given(standing)
        .when({ type: 'DeleteVm', data: { vmId, taskId: 'd' } })
        .thenThrows('VM.HAS_LINKED_CLONES', ['VM.LINKED_CLONE']);
      spec
        .given(standing)
        .when({ type: 'DeleteSnapshot', data: { vmId, taskId: 'd', snapshotId } })
        .thenThrows('SNAPSHOT.HAS_LINKED_CLONES');
      spec
        .given(standing)
        .when({ type: 'ReleaseLinkedClone', data: { vmId, dependantVmId: cloneId } })
        .then([{ type: 'VmLinkedCloneReleased', data: { vmId, dependantVmId: cloneId } }]);
      spec
        .given([
          ...standing,
          { type: 'VmLinkedCloneReleased', data: { vmId, dependantVmId: cloneId } },
        ])
        .when({ type: 'DeleteVm', data: { vmId, taskId: 'd' } })
        .then([{ type: 'VmDeletionRequested', data: { vmId, taskId: 'd', forced: false } }]);
    });
  });

  describe('snapshots', () => {
    it('are taken, with the name given, over the current one', () => {
      spec
        .given(ready)
        .when({
          type: 'TakeSnapshot',
          data: { vmId, taskId: 'snap-1', snapshotId, name: 'before upgrade', description: '' },
        })
        .then([snapshotTaken[0]]);
      spec
        .given([...ready, snapshotTaken[0]])
        .when({
          type: 'RecordSnapshotTaken',
          data: {
            vmId,
            taskId: 'snap-1',
            layers: [{ diskId, layerId: 'layer-1' }],
            disks: [{ diskId, layerId: 'layer-2', allocatedBytes: 0 }],
          },
        })
        .then([snapshotTaken[1]]);
    });

    it('revert only while powered off, and only to one that exists', () => {
      spec
        .given([...running, ...snapshotTaken])
        .when({ type: 'RevertToSnapshot', data: { vmId, taskId, snapshotId } })
        .thenThrows('VM.NOT_POWERED_OFF');
      spec
        .given(ready)
        .when({ type: 'RevertToSnapshot', data: { vmId, taskId, snapshotId } })
        .thenThrows('SNAPSHOT.NOT_FOUND');
    });

    it('are deleted (consolidated), and the VM forgets them', () => {
      const deleting: VmEvent[] = [
        ...ready,
        ...snapshotTaken,
        { type: 'VmSnapshotDeletionRequested', data: { vmId, taskId, snapshotId } },
      ];
      spec
        .given(deleting)
        .when({ type: 'RecordSnapshotDeleted', data: { vmId, taskId } })
        .then([{ type: 'VmSnapshotDeleted', data: { vmId, taskId, snapshotId } }]);
      spec
        .given([...deleting, { type: 'VmSnapshotDeleted', data: { vmId, taskId, snapshotId } }])
        .when({ type: 'RevertToSnapshot', data: { vmId, taskId: 'r', snapshotId } })
        .thenThrows('SNAPSHOT.NOT_FOUND');
    });
  });

  describe('when a template', () => {
    const template = [...ready, toTemplate];

    it('cannot be powered on or snapshotted', () => {
      spec
        .given(template)
        .when({ type: 'RequestPowerChange', data: { vmId, taskId, to: 'poweredOn' } })
        .thenThrows('VM.IS_TEMPLATE');
      spec
        .given(template)
        .when({
          type: 'TakeSnapshot',
          data: { vmId, taskId, snapshotId, name: 's', description: '' },
        })
        .thenThrows('VM.IS_TEMPLATE');
    });

    it('stands linked clones on its frozen disks without a snapshot', () => {
      spec
        .given(template)
        .when({
          type: 'StartClone',
          data: {
            vmId,
            taskId,
            targetVmId: cloneId,
            linked: true,
            snapshotId: null,
            format: 'same',
          },
        })
        .then([
          {
            type: 'VmBeingCloned',
            data: {
              vmId,
              taskId,
              targetVmId: cloneId,
              linked: true,
              snapshotId: null,
              format: 'same',
            },
          },
        ]);
    });
  });

  describe('forking instant clones', () => {
    const forkTask = '0190f3a0-0000-7000-8000-00000000f0f1';
    const forkStarted: VmEvent = {
      type: 'VmForkStarted',
      data: { vmId, taskId: forkTask, targetVmId: cloneId },
    };

    it('forks only from a running VM', () => {
      const fork = {
        type: 'StartFork' as const,
        data: { vmId, taskId: forkTask, targetVmId: cloneId },
      };
      spec.given(running).when(fork).then([forkStarted]);
      spec.given(ready).when(fork).thenThrows('FORK.SOURCE_POWERED_OFF');
      spec
        .given([
          ...running,
          powerRequested('suspended'),
          { type: 'VmSuspended', data: { vmId, taskId } },
        ])
        .when(fork)
        .thenThrows('FORK.SOURCE_SUSPENDED');
      spec
        .given([...ready, toTemplate])
        .when(fork)
        .thenThrows('FORK.SOURCE_IS_TEMPLATE');
    });

    it('keeps running and stays while a fork is under way', () => {
      spec
        .given([...running, forkStarted])
        .when({ type: 'RequestPowerChange', data: { vmId, taskId, to: 'poweredOff' } })
        .thenThrows('VM.BEING_FORKED');
    });

    it('turns read-only when its first fork froze it', () => {
      const readOnly = { ...exported, writable: false };
      const finished: VmEvent = {
        type: 'VmForkFinished',
        data: {
          vmId,
          taskId: forkTask,
          targetVmId: cloneId,
          outcome: 'succeeded',
          exports: [readOnly],
        },
      };
      spec
        .given([...running, forkStarted])
        .when({
          type: 'FinishFork',
          data: {
            vmId,
            taskId: forkTask,
            targetVmId: cloneId,
            outcome: 'succeeded',
            exports: [readOnly],
          },
        })
        .then([finished]);
      const state = [...running, forkStarted, finished].reduce(
        vmDecider.evolve,
        vmDecider.initialState(),
      );
      expect(state).toMatchObject({ forks: [], live: { exports: [readOnly] } });
    });

    it('is not an instant clone: only those are refreshed', () => {
      spec
        .given(running)
        .when({ type: 'RequestRefresh', data: { vmId, taskId } })
        .thenThrows('VM.NOT_REFRESHABLE');
    });
  });

  describe('made by a pool', () => {
    const poolId = '0190f3a0-0000-7000-8000-0000000000c1';
    const otherPool = '0190f3a0-0000-7000-8000-0000000000c2';
    const byPool = { by: 'pool', poolId } as const;
    const forcing = { by: 'person', force: true } as const;
    const madeAs = (
      role: 'internal-template' | 'replica' | 'parent' | 'instant-clone',
    ): VmCreated => ({
      ...created,
      data: {
        ...created.data,
        role,
        poolId,
        origin:
          role === 'instant-clone'
            ? { kind: 'fork', parentVmId: cloneId, replicaVmId: null, poolId }
            : created.data.origin,
      },
    });
    const runningAs = (role: Parameters<typeof madeAs>[0]) => [
      madeAs(role),
      provisioned,
      powerRequested('poweredOn', 'power-1'),
      poweredOn('power-1'),
      ...snapshotTaken,
    ];
    /** Every command a person sends a VM, as the API sends it. */
    const personCommands = (requester?: {
      by: 'person';
      force: boolean;
    }): [string, VmCommand][] => [
      [
        'power off',
        { type: 'RequestPowerChange', data: { vmId, taskId, to: 'poweredOff', requester } },
      ],
      [
        'suspend',
        { type: 'RequestPowerChange', data: { vmId, taskId, to: 'suspended', requester } },
      ],
      ['refresh', { type: 'RequestRefresh', data: { vmId, taskId, requester } }],
      ['delete', { type: 'DeleteVm', data: { vmId, taskId, requester } }],
      [
        'take a snapshot',
        {
          type: 'TakeSnapshot',
          data: { vmId, taskId, snapshotId: cloneId, name: 's', description: '', requester },
        },
      ],
      ['revert', { type: 'RevertToSnapshot', data: { vmId, taskId, snapshotId, requester } }],
      [
        'delete a snapshot',
        { type: 'DeleteSnapshot', data: { vmId, taskId, snapshotId, requester } },
      ],
      ['rename', { type: 'RenameVm', data: { vmId, name: 'mine-now', requester } }],
      ['convert to template', { type: 'ConvertVmToTemplate', data: { vmId, requester } }],
      [
        'clone',
        {
          type: 'StartClone',
          data: {
            vmId,
            taskId,
            targetVmId: cloneId,
            linked: false,
            snapshotId: null,
            format: 'same',
            requester,
          },
        },
      ],
      ['fork', { type: 'StartFork', data: { vmId, taskId, targetVmId: cloneId, requester } }],
    ];

    describe.each(['internal-template', 'replica', 'parent'] as const)('its %s', (role) => {
      it.each(personCommands())('takes no "%s" from a person', (_name, command) => {
        const error = spec.given(runningAs(role)).when(command).thenThrows('VM.MANAGED_BY_POOL');
        expect(error.message).toContain(`the ${role} of pool ${poolId}`);
      });

      it.each(personCommands(forcing))('takes no "%s" even forced', (_name, command) => {
        spec.given(runningAs(role)).when(command).thenThrows('VM.MANAGED_BY_POOL');
      });

      it('takes its own pool’s commands, and no other pool’s', () => {
        spec
          .given(runningAs(role))
          .when({
            type: 'StartFork',
            data: { vmId, taskId, targetVmId: cloneId, requester: byPool },
          })
          .then([{ type: 'VmForkStarted', data: { vmId, taskId, targetVmId: cloneId } }]);
        spec
          .given(runningAs(role))
          .when({ type: 'DeleteVm', data: { vmId, taskId, requester: byPool } })
          .then([{ type: 'VmDeletionRequested', data: { vmId, taskId, forced: false } }]);
        spec
          .given(runningAs(role))
          .when({
            type: 'DeleteVm',
            data: { vmId, taskId, requester: { by: 'pool', poolId: otherPool } },
          })
          .thenThrows('VM.MANAGED_BY_POOL');
      });
    });

    describe('its desktop', () => {
      const desktop = runningAs('instant-clone');

      it.each(personCommands())('takes no "%s" from a person', (_name, command) => {
        const error = spec.given(desktop).when(command).thenThrows('VM.MANAGED_BY_POOL');
        expect(error.message).toContain(`a desktop of pool ${poolId}`);
      });

      it('is powered and deleted by force, and the events say so', () => {
        spec
          .given(desktop)
          .when({
            type: 'RequestPowerChange',
            data: { vmId, taskId, to: 'poweredOff', requester: forcing },
          })
          .then([
            {
              type: 'VmPowerChangeRequested',
              data: { vmId, taskId, to: 'poweredOff', forced: true },
            },
          ]);
        spec
          .given(desktop)
          .when({ type: 'DeleteVm', data: { vmId, taskId, requester: forcing } })
          .then([{ type: 'VmDeletionRequested', data: { vmId, taskId, forced: true } }]);
      });

      it.each(
        personCommands(forcing).filter(
          ([name]) => !['power off', 'suspend', 'delete'].includes(name),
        ),
      )('takes no "%s" even forced', (_name, command) => {
        spec.given(desktop).when(command).thenThrows('VM.MANAGED_BY_POOL');
      });

      it('is refreshed and removed by its pool, running', () => {
        spec
          .given(desktop)
          .when({ type: 'RequestRefresh', data: { vmId, taskId, requester: byPool } })
          .then([{ type: 'VmRefreshRequested', data: { vmId, taskId } }]);
        spec
          .given(desktop)
          .when({ type: 'DeleteVm', data: { vmId, taskId, requester: byPool } })
          .then([{ type: 'VmDeletionRequested', data: { vmId, taskId, forced: false } }]);
      });
    });

    it('but an instant clone forked by hand is its maker’s to delete', () => {
      const fork: VmCreated = {
        ...created,
        data: {
          ...created.data,
          role: 'instant-clone',
          origin: { kind: 'fork', parentVmId: cloneId, replicaVmId: null, poolId: null },
        },
      };
      spec
        .given([fork, provisioned])
        .when({ type: 'DeleteVm', data: { vmId, taskId } })
        .then([{ type: 'VmDeletionRequested', data: { vmId, taskId, forced: false } }]);
    });
  });

  describe('when deleted', () => {
    it('is gone for every command', () => {
      const deleted: VmEvent[] = [
        ...ready,
        { type: 'VmDeletionRequested', data: { vmId, taskId, forced: false } },
        { type: 'VmDeleted', data: { vmId, taskId } },
      ];
      spec
        .given(deleted)
        .when({ type: 'RequestPowerChange', data: { vmId, taskId: 'p', to: 'poweredOn' } })
        .thenThrows('VM.NOT_FOUND');
      spec
        .given(deleted)
        .when({ type: 'RenameVm', data: { vmId, name: 'x' } })
        .thenThrows('VM.NOT_FOUND');
      spec
        .given(deleted)
        .when({ type: 'CreateVm', data: { ...definition, provisioningTaskId: makeTask } })
        .thenThrows('VM.ALREADY_EXISTS');
    });
  });
});
