import { type Decider, assertNever } from '../shared/decider';
import {
  attachLinkedClone,
  finishClone,
  finishFork,
  releaseLinkedClone,
  startClone,
  startFork,
} from './decide/clones';
import {
  createClone,
  createVm,
  recordCloned,
  recordForked,
  recordProvisioned,
  recordProvisioningFailed,
} from './decide/create';
import {
  convertToTemplate,
  convertToVm,
  deleteVm,
  recordDeleted,
  recordTaskFailed,
  renameVm,
} from './decide/lifecycle';
import {
  recordHostLost,
  recordPoweredOff,
  recordPoweredOn,
  recordRefreshed,
  recordSuspended,
  requestPowerChange,
  requestRefresh,
} from './decide/power';
import {
  deleteSnapshot,
  recordReverted,
  recordSnapshotDeleted,
  recordSnapshotTaken,
  revertToSnapshot,
  takeSnapshot,
} from './decide/snapshots';
import { finishExport, recordImported, startExport } from './decide/packages';
import type { VmCommand, VmContext } from './vm.commands';
import type { VmEvent } from './vm.events';
import { type VmState, evolveVm } from './vm.state';

/**
 * The VM decider: one small function per command (in ./decide, by what the command is about),
 * the state and how events fold into it (./vm.state), the commands (./vm.commands).
 */
export * from './vm.commands';
export {
  type BusyWith,
  type ExclusiveOperation,
  type ExistingVm,
  type Snapshot,
  type VmBusy,
  type VmLive,
  type VmPower,
  type VmRecord,
  type VmState,
  memoryImageOf,
  vmStreamId,
} from './vm.state';
export {
  FORCIBLE_OPERATIONS,
  POOL_MANAGED_ROLES,
  type VmOperation,
  guardPoolVm,
} from './pool-protection';
export { placementReasons } from './decide/create';

function decide(command: VmCommand, state: VmState, context: VmContext): VmEvent[] {
  switch (command.type) {
    case 'CreateVm':
      return createVm(command, state, context);
    case 'CreateClone':
      return createClone(command, state, context);
    case 'RecordProvisioned':
      return recordProvisioned(command, state);
    case 'RecordCloned':
      return recordCloned(command, state);
    case 'RecordForked':
      return recordForked(command, state);
    case 'RecordProvisioningFailed':
      return recordProvisioningFailed(command, state);
    case 'StartClone':
      return startClone(command, state);
    case 'FinishClone':
      return finishClone(command, state);
    case 'StartFork':
      return startFork(command, state);
    case 'FinishFork':
      return finishFork(command, state);
    case 'AttachLinkedClone':
      return attachLinkedClone(command, state);
    case 'ReleaseLinkedClone':
      return releaseLinkedClone(command, state);
    case 'RequestRefresh':
      return requestRefresh(command, state);
    case 'RecordRefreshed':
      return recordRefreshed(command, state);
    case 'RequestPowerChange':
      return requestPowerChange(command, state);
    case 'RecordPoweredOn':
      return recordPoweredOn(command, state);
    case 'RecordPoweredOff':
      return recordPoweredOff(command, state);
    case 'RecordSuspended':
      return recordSuspended(command, state);
    case 'RecordHostLost':
      return recordHostLost(command, state);
    case 'TakeSnapshot':
      return takeSnapshot(command, state);
    case 'RecordSnapshotTaken':
      return recordSnapshotTaken(command, state);
    case 'RevertToSnapshot':
      return revertToSnapshot(command, state);
    case 'RecordReverted':
      return recordReverted(command, state);
    case 'DeleteSnapshot':
      return deleteSnapshot(command, state);
    case 'RecordSnapshotDeleted':
      return recordSnapshotDeleted(command, state);
    case 'DeleteVm':
      return deleteVm(command, state);
    case 'RecordDeleted':
      return recordDeleted(command, state);
    case 'RecordTaskFailed':
      return recordTaskFailed(command, state);
    case 'RenameVm':
      return renameVm(command, state);
    case 'ConvertVmToTemplate':
      return convertToTemplate(command, state);
    case 'ConvertTemplateToVm':
      return convertToVm(command, state);
    case 'StartExport':
      return startExport(command, state);
    case 'FinishExport':
      return finishExport(command, state);
    case 'RecordImported':
      return recordImported(command, state);
    default:
      return assertNever(command);
  }
}

export const vmDecider: Decider<VmState, VmCommand, VmEvent, VmContext> = {
  initialState: () => ({ status: 'absent' }),
  decide: (command, state, context) => decide(command, state, context ?? {}),
  evolve: evolveVm,
};
