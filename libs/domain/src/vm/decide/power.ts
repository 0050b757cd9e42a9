/** Power: on, off, suspended; a lost host; an instant clone back to its fork state. */
import { IllegalStateError } from '../../shared/errors';
import type {
  RecordHostLost,
  RecordPoweredOff,
  RecordPoweredOn,
  RecordRefreshed,
  RecordSuspended,
  RequestPowerChange,
  RequestRefresh,
} from '../vm.commands';
import type { PowerState, VmEvent } from '../vm.events';
import { type VmState, isTemplate } from '../vm.state';
import { busyWith, existing, guarded } from './preconditions';

const POWER_TRANSITIONS: Record<PowerState, PowerState[]> = {
  poweredOff: ['poweredOn'],
  poweredOn: ['poweredOff', 'suspended'],
  suspended: ['poweredOn', 'poweredOff'],
};

export function requestPowerChange(command: RequestPowerChange, state: VmState): VmEvent[] {
  const { requester, ...data } = command.data;
  const { to } = data;
  const { vm, forced } = guarded(state, data.vmId, 'power', requester);
  if (to === 'poweredOn' && isTemplate(vm)) {
    throw new IllegalStateError(
      'VM.IS_TEMPLATE',
      `${vm.name} is a template: templates cannot be powered on`,
    );
  }
  if (to !== 'poweredOn' && vm.forks.length > 0) {
    throw new IllegalStateError(
      'VM.BEING_FORKED',
      `${vm.name} is being forked (task ${vm.forks.map((f) => f.taskId).join(', ')}): it keeps running until the forks end`,
    );
  }
  if (!POWER_TRANSITIONS[vm.powerState].includes(to)) {
    const code = {
      poweredOn: 'VM.ALREADY_POWERED_ON',
      poweredOff: 'VM.ALREADY_POWERED_OFF',
      suspended: 'VM.NOT_POWERED_ON',
    }[to];
    throw new IllegalStateError(code, `${vm.name} is ${vm.powerState}: it cannot go ${to}`);
  }
  return [{ type: 'VmPowerChangeRequested', data: { ...data, forced } }];
}

export function recordPoweredOn(command: RecordPoweredOn, state: VmState): VmEvent[] {
  const { vm } = busyWith(state, command.data.vmId, command.data.taskId, 'power');
  return [
    {
      type: 'VmPoweredOn',
      data: { ...command.data, resumedFromSuspend: vm.powerState === 'suspended' },
    },
  ];
}

export function recordPoweredOff(command: RecordPoweredOff, state: VmState): VmEvent[] {
  busyWith(state, command.data.vmId, command.data.taskId, 'power');
  return [{ type: 'VmPoweredOff', data: command.data }];
}

export function recordSuspended(command: RecordSuspended, state: VmState): VmEvent[] {
  busyWith(state, command.data.vmId, command.data.taskId, 'power');
  return [{ type: 'VmSuspended', data: command.data }];
}

export function recordHostLost(command: RecordHostLost, state: VmState): VmEvent[] {
  const vm = existing(state, command.data.vmId);
  // Only the worker that holds it now: a VM since opened elsewhere lost nothing.
  return vm.live?.workerId === command.data.workerId
    ? [
        {
          type: 'VmHostLost',
          data: { ...command.data, memoryImageId: vm.live.memoryImage.imageId },
        },
      ]
    : [];
}

export function requestRefresh(command: RequestRefresh, state: VmState): VmEvent[] {
  const { requester, ...data } = command.data;
  const { vm } = guarded(state, data.vmId, 'refresh', requester);
  if (vm.origin.kind !== 'fork' || vm.powerState !== 'poweredOn')
    throw new IllegalStateError(
      'VM.NOT_REFRESHABLE',
      `${vm.name} is not a running instant clone: only those go back to their fork state`,
    );
  return [{ type: 'VmRefreshRequested', data }];
}

export function recordRefreshed(command: RecordRefreshed, state: VmState): VmEvent[] {
  busyWith(state, command.data.vmId, command.data.taskId, 'refresh');
  return [{ type: 'VmRefreshed', data: command.data }];
}
