import { streamIdOf } from '../shared/streams';
import { type Command, type Decider, assertNever } from '../shared/decider';
import { IllegalStateError } from '../shared/errors';
import { hardwareVersionNumber } from '../shared/hardware-version';
import type { HostEvent, HostManagement, HostRegistered } from './host.events';

export type HostState =
  | { status: 'unregistered' }
  | {
      status: 'registered';
      hostId: string;
      name: string;
      cpuCores: number;
      memoryBytes: number;
      maxHardwareVersion: string;
      management: HostManagement;
    };

export type RegisterHost = Command<'RegisterHost', HostRegistered['data']>;
export type HostCommand = RegisterHost;

export const hostStreamId = (hostId: string) => streamIdOf({ kind: 'host', id: hostId });

function registerHost(command: RegisterHost, state: HostState): HostEvent[] {
  if (state.status !== 'unregistered') {
    throw new IllegalStateError(
      'HOST.ALREADY_REGISTERED',
      `Host ${command.data.hostId} is already registered`,
    );
  }
  hardwareVersionNumber(command.data.maxHardwareVersion);
  return [{ type: 'HostRegistered', data: command.data }];
}

export const hostDecider: Decider<HostState, HostCommand, HostEvent> = {
  initialState: () => ({ status: 'unregistered' }),
  decide(command, state) {
    switch (command.type) {
      case 'RegisterHost':
        return registerHost(command, state);
      default:
        return assertNever(command.type);
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'HostRegistered':
        return { status: 'registered', ...event.data };
      default:
        return assertNever(event.type);
    }
  },
};
