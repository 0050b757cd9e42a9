import { CLONE_FORMATS as API_CLONE_FORMATS, type DiskBlockMap } from '@dolly/domain';
import type {
  ChainVerificationLine as ApiChainVerificationLine,
  ChainVerificationView as ApiChainVerificationView,
} from '../../api/src/audit/chain-verification.representation';
import type { InventoryDiffView as ApiInventoryDiffView } from '../../api/src/inventory/diff/inventory-diff.representation';
import type { LineageView as ApiLineageView } from '../../api/src/vms/lineage/vm-lineage.representation';
import type {
  DatastoreView as ApiDatastoreView,
  QuarantineView as ApiQuarantineView,
} from '../../api/src/inventory/inventory.representation';
import type { CommandAccepted as ApiCommandAccepted } from '../../api/src/shared/command-accepted.representation';
import type { Page as ApiPage } from '../../api/src/shared/pagination';
import type { Problem as ApiProblem } from '../../api/src/shared/problem.representation';
import { resourcePath as apiResourcePath } from '../../api/src/shared/resource-paths';
import {
  TASK_STATUSES as API_TASK_STATUSES,
  type TaskView as ApiTaskView,
} from '../../api/src/tasks/task.representation';
import type {
  SnapshotsView as ApiSnapshotsView,
  VmView as ApiVmView,
} from '../../api/src/vms/queries/vm.representation';
import {
  type BlockMap,
  CLONE_FORMATS,
  type ChainVerificationLine,
  type ChainVerificationView,
  type InventoryDiffView,
  type LineageView,
  type CommandAccepted,
  type DatastoreView,
  type Page,
  type Problem,
  type QuarantineView,
  type SnapshotView,
  TASK_STATUSES,
  type TaskView,
  type VmView,
  resourcePath,
} from './api';
import { representationOf, violationsOf } from './testing/api-representations';
import {
  CLONE_ID,
  TASK_ID,
  VM_ID,
  accepted,
  cloneTasks,
  datastoreView,
  taskView,
  vmView,
} from './testing/api-fixtures';

/**
 * The CLI keeps its own types of the API's answers (it runs without the API's code), so they are
 * tied to the API's here: whatever the API answers, the CLI's type of it accepts (checked by
 * `npm run typecheck`: a field the API renames or drops, or a new kind of value, fails to compile),
 * and the fake API the CLI's specs run against answers only what the API could (fake-api.ts checks
 * every answer against the API's schemas; these specs check the checks).
 */
type ReadableAs<Client, Server extends Client> = [Client, Server];
export type TheApiAnswersWhatTheCliReads = [
  ReadableAs<TaskView, ApiTaskView>,
  ReadableAs<CommandAccepted, ApiCommandAccepted>,
  ReadableAs<Problem, ApiProblem>,
  ReadableAs<VmView, ApiVmView>,
  ReadableAs<{ snapshots: SnapshotView[]; currentSnapshotId: string | null }, ApiSnapshotsView>,
  ReadableAs<DatastoreView, ApiDatastoreView>,
  ReadableAs<QuarantineView, ApiQuarantineView>,
  ReadableAs<BlockMap, DiskBlockMap>,
  ReadableAs<Page<TaskView>, ApiPage<ApiTaskView>>,
  ReadableAs<ChainVerificationView, ApiChainVerificationView>,
  ReadableAs<ChainVerificationLine, ApiChainVerificationLine>,
  ReadableAs<LineageView, ApiLineageView>,
  ReadableAs<InventoryDiffView, ApiInventoryDiffView>,
];

describe("the CLI's copy of the API's vocabulary", () => {
  it('names the task statuses and clone formats the API does', () => {
    expect([...TASK_STATUSES]).toEqual([...API_TASK_STATUSES]);
    expect([...CLONE_FORMATS]).toEqual([...API_CLONE_FORMATS]);
  });

  it('finds an object where the API serves it', () => {
    for (const type of ['vm', 'host', 'datastore', 'task'])
      expect(resourcePath({ type, id: VM_ID })).toBe(apiResourcePath(type, VM_ID));
  });
});

describe("the fake API's answers", () => {
  type Answer = [what: string, method: string, path: string, status: number, body: unknown];
  const answers: Answer[] = [
    ['a task', 'GET', `/tasks/${TASK_ID}`, 200, taskView()],
    ...cloneTasks({ status: 'succeeded' }).map((task): Answer => [
      'a clone task on its stream',
      'GET',
      `/tasks/${TASK_ID}/stream`,
      200,
      task,
    ]),
    ['a command accepted', 'POST', `/vms/${VM_ID}/clone`, 202, accepted()],
    ['a VM', 'GET', `/vms/${CLONE_ID}`, 200, vmView()],
    ['a datastore', 'GET', `/datastores/${CLONE_ID}`, 200, datastoreView()],
  ];
  it.each(answers)('%s is what the API answers to %s %s', (_what, method, path, status, body) => {
    expect(violationsOf(representationOf(method, path, status), body)).toEqual([]);
  });

  describe('are refused where the API would answer otherwise', () => {
    it('a field missing, renamed, or of another type', () => {
      const { attempt: _attempt, ...withoutAttempt } = taskView();
      const TaskView = representationOf('GET', `/tasks/${TASK_ID}`, 200);

      expect(violationsOf(TaskView, withoutAttempt)).toEqual([
        "/ must have required property 'attempt'",
      ]);
      expect(violationsOf(TaskView, { ...withoutAttempt, attempts: 1 })).toEqual([
        "/ must have required property 'attempt'",
        '/ must NOT have additional properties (attempts)',
      ]);
      expect(violationsOf(TaskView, taskView({ status: 'paused' as never }))).toEqual([
        '/status must be equal to one of the allowed values',
      ]);
    });

    it('a field the API does not have, however deep', () => {
      const vm = vmView({ hardware: { ...vmView().hardware, cores: 2 } as never });

      expect(violationsOf(representationOf('GET', `/vms/${VM_ID}`, 200), vm)).toEqual([
        '/hardware must NOT have additional properties (cores)',
      ]);
    });

    it('a route whose answer the API does not document', () => {
      expect(() => representationOf('GET', '/nowhere', 200)).toThrow(
        'No representation of the API is known for GET /nowhere',
      );
    });
  });
});
