import { type Decider, assertNever } from '../shared/decider';
import { recordImageBuilt, pushImage, schedulePush, unschedulePush } from './decide/images';
import { createPool, deletePool, editPool } from './decide/lifecycle';
import {
  assignDesktop,
  logOff,
  recordMachineForked,
  recordMachineRefreshed,
  recordMachinesLost,
  requestMachine,
  requestMachineRefresh,
} from './decide/machines';
import { recordRemovalFailed, recordVmRemoved, requestVmRemoval } from './decide/removals';
import type { PoolCommand } from './pool.commands';
import type { PoolEvent } from './pool.events';
import { type PoolState, evolvePool } from './pool.state';

/**
 * The pool decider: one small function per command (in ./decide, by what the command is about),
 * the state and how events fold into it (./pool.state), the commands (./pool.commands), what
 * the workflows ask of a pool (./pool.queries) and how its machines are named (./pool-naming).
 */
export * from './pool.commands';
export {
  type ExistingPool,
  type InternalRole,
  type PoolMachine,
  type PoolState,
  poolStreamId,
} from './pool.state';
export * from './pool.queries';
export { MACHINE_NAME_MAX_LENGTH, machineName, namingReasons } from './pool-naming';

function decide(command: PoolCommand, state: PoolState): PoolEvent[] {
  switch (command.type) {
    case 'CreatePool':
      return createPool(command, state);
    case 'EditPool':
      return editPool(command, state);
    case 'DeletePool':
      return deletePool(command, state);
    case 'RecordImagePublished':
    case 'RecordImageFailed':
      return recordImageBuilt(command, state);
    case 'PushImage':
      return pushImage(command, state);
    case 'SchedulePush':
      return schedulePush(command, state);
    case 'UnschedulePush':
      return unschedulePush(command, state);
    case 'RequestMachine':
      return requestMachine(command, state);
    case 'RecordMachineReady':
    case 'RecordMachineFailed':
      return recordMachineForked(command, state);
    case 'AssignDesktop':
      return assignDesktop(command, state);
    case 'LogOff':
      return logOff(command, state);
    case 'RequestMachineRefresh':
      return requestMachineRefresh(command, state);
    case 'RecordMachineRefreshed':
    case 'RecordMachineRefreshFailed':
      return recordMachineRefreshed(command, state);
    case 'RecordMachinesLost':
      return recordMachinesLost(command, state);
    case 'RequestVmRemoval':
      return requestVmRemoval(command, state);
    case 'RecordRemovalFailed':
      return recordRemovalFailed(command, state);
    case 'RecordVmRemoved':
      return recordVmRemoved(command, state);
    default:
      return assertNever(command);
  }
}

export const poolDecider: Decider<PoolState, PoolCommand, PoolEvent> = {
  initialState: () => ({ status: 'absent' }),
  decide: (command, state) => decide(command, state),
  evolve: evolvePool,
};
