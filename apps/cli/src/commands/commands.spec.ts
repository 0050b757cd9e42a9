import {
  CLONE_ID,
  DATASTORE_ID,
  FakeApi,
  TASK_ID,
  VM_ID,
  accepted,
  cloneTasks,
  datastoreView,
  sendJson,
  sendProblem,
  sendTaskStream,
  vmView,
} from '../testing/fake-api';
import { runCli } from '../testing/run-cli';

// The CLI runs as a child process (tsx, from the source): a few seconds each on a busy machine.
jest.setTimeout(60_000);

const STREAM = `/tasks/${TASK_ID}/stream`;
const SNAPSHOT_ID = '0196a3c0-0000-7000-8000-0000000000b1';
const TEMPLATE_ID = '0196a3c0-0000-7000-8000-0000000000d1';
const SOURCE_ID = '0196a3c0-0000-7000-8000-0000000000a0';
const DISK_ID = '0196a3c0-0000-7000-8000-0000000000d9';
const GiB = 1024 ** 3;
const words = (line: string) => line.split(' ');

let api: FakeApi;
beforeEach(async () => {
  api = await FakeApi.start();
  api.on('GET', `/vms/${CLONE_ID}`, (_request, response) =>
    sendJson(
      response,
      200,
      vmView({ vmId: CLONE_ID, name: 'web-02', role: 'vm', powerState: 'poweredOn' }),
    ),
  );
});
afterEach(() => api.close());

describe('dolly vms clone', () => {
  it('sends the clone, follows its task (until then not in the read model) to the end', async () => {
    api.on('POST', `/vms/${VM_ID}/clone`, (_request, response) =>
      sendJson(response, 202, accepted()),
    );
    let opened = 0;
    api.on('GET', STREAM, (_request, response) => {
      opened += 1;
      // The projector has not shown the task yet: the stream answers 404 at first.
      if (opened === 1)
        sendProblem(response, { status: 404, code: 'TASK.NOT_FOUND', detail: 'No such task.' });
      else sendTaskStream(response, cloneTasks({ status: 'succeeded' }));
    });

    const run = await runCli(
      api,
      words(
        `vms clone ${VM_ID} --name web-02 --datastore ds-2 --format thin --power-on --linked --snapshot ${SNAPSHOT_ID}`,
      ),
    );

    expect(run.code).toBe(0);
    expect(api.requestsTo('POST', `/vms/${VM_ID}/clone`)[0].body).toEqual({
      name: 'web-02',
      datastoreId: 'ds-2',
      format: 'thin',
      powerOn: true,
      linked: true,
      snapshotId: SNAPSHOT_ID,
    });
    expect(api.requestsTo('GET', STREAM)).toHaveLength(2);
    expect(run.stdout).toContain(`CloneVm succeeded in 12.0 s: vm ${CLONE_ID} "web-02"`);
  });

  it('refuses --linked without --snapshot before asking the API', async () => {
    const run = await runCli(api, ['vms', 'clone', VM_ID, '--name', 'web-02', '--linked']);

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('--linked needs --snapshot');
    expect(api.requests).toEqual([]);
  });

  it('prints every reason of a problem+json refusal and exits 1', async () => {
    api.on('POST', `/vms/${VM_ID}/clone`, (_request, response) =>
      sendProblem(response, {
        status: 422,
        code: 'VALIDATION',
        detail: 'The request is not valid.',
        errors: [
          {
            code: 'DATASTORE.NO_SPACE',
            detail: 'ds-2 has 2 GiB free, the clone needs 16 GiB',
            pointer: '/datastoreId',
          },
          {
            code: 'CLONE.LINKED_FORMAT',
            detail: 'A linked clone keeps its source’s format',
            pointer: '/format',
          },
          { code: 'HOST.TOO_OLD', detail: 'esx-01 runs vmx-17 at most' },
        ],
      }),
    );

    const run = await runCli(api, words(`vms clone ${VM_ID} --name web-02 --datastore ds-2`));

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Error 422 VALIDATION: The request is not valid.');
    expect(run.stderr).toContain(
      '/datastoreId: ds-2 has 2 GiB free, the clone needs 16 GiB (DATASTORE.NO_SPACE)',
    );
    expect(run.stderr).toContain(
      '/format: A linked clone keeps its source’s format (CLONE.LINKED_FORMAT)',
    );
    expect(run.stderr).toContain('esx-01 runs vmx-17 at most (HOST.TOO_OLD)');
    expect(run.stdout).toBe('');
  });

  describe('with --no-wait', () => {
    beforeEach(() => {
      api.on('POST', `/vms/${VM_ID}/clone`, (_request, response) =>
        sendJson(response, 202, accepted()),
      );
      // A task that never ends: the CLI must not wait for it.
      api.on('GET', STREAM, (_request, response) =>
        sendTaskStream(response, cloneTasks({}).slice(0, 1), 'keepOpen'),
      );
    });

    it('returns at once with the task id and how to follow it', async () => {
      const run = await runCli(api, ['vms', 'clone', VM_ID, '--name', 'web-02', '--no-wait']);

      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`Task ${TASK_ID} queued: vm ${CLONE_ID}`);
      expect(run.stdout).toContain(`dolly tasks watch ${TASK_ID}`);
      expect(api.requestsTo('GET', STREAM)).toEqual([]);
    });

    it('with --json, prints the API’s answer as one document', async () => {
      const run = await runCli(api, words(`--json vms clone ${VM_ID} --name web-02 --no-wait`));

      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toEqual(accepted());
      expect(api.requestsTo('GET', STREAM)).toEqual([]);
    });
  });
});

describe('dolly templates deploy', () => {
  it('sends the hardware overrides in bytes and follows the task', async () => {
    api.on('POST', `/templates/${TEMPLATE_ID}/deploy`, (_request, response) =>
      sendJson(response, 202, accepted()),
    );
    api.on('GET', STREAM, (_request, response) =>
      sendTaskStream(
        response,
        cloneTasks({ status: 'succeeded', operation: 'DeployFromTemplate' }),
      ),
    );

    const run = await runCli(
      api,
      words(`templates deploy ${TEMPLATE_ID} --name web-03 --vcpus 4 --memory 4GiB --power-on`),
    );

    expect(run.code).toBe(0);
    expect(api.requestsTo('POST', `/templates/${TEMPLATE_ID}/deploy`)[0].body).toEqual({
      name: 'web-03',
      hardware: { vcpus: 4, memoryBytes: 4 * GiB },
      powerOn: true,
    });
  });
});

describe('dolly vms snapshot, revert, delete-snapshot', () => {
  it.each([
    {
      args: ['vms', 'snapshot', VM_ID, '--name', 'before upgrade'],
      method: 'POST',
      path: `/vms/${VM_ID}/snapshots`,
    },
    {
      args: ['vms', 'revert', VM_ID, SNAPSHOT_ID],
      method: 'POST',
      path: `/vms/${VM_ID}/snapshots/${SNAPSHOT_ID}/revert`,
    },
    {
      args: ['vms', 'delete-snapshot', VM_ID, SNAPSHOT_ID],
      method: 'DELETE',
      path: `/vms/${VM_ID}/snapshots/${SNAPSHOT_ID}`,
    },
  ])('$method $path follows its task to the end', async ({ args, method, path }) => {
    api.on(method, path, (_request, response) =>
      sendJson(response, 202, accepted(TASK_ID, { type: 'vm', id: CLONE_ID })),
    );
    api.on('GET', STREAM, (_request, response) =>
      sendTaskStream(response, cloneTasks({ status: 'succeeded' })),
    );

    const run = await runCli(api, args);

    expect(run.code).toBe(0);
    expect(api.requestsTo(method, path)).toHaveLength(1);
    expect(api.requestsTo('GET', STREAM)).toHaveLength(1);
  });
});

describe('reading', () => {
  it('vms snapshots shows the tree and where the VM runs from', async () => {
    const child = '0196a3c0-0000-7000-8000-0000000000b2';
    api.on('GET', `/vms/${VM_ID}/snapshots`, (_request, response) =>
      sendJson(response, 200, {
        snapshots: [
          {
            snapshotId: SNAPSHOT_ID,
            name: 'base',
            description: 'fresh install',
            parentSnapshotId: null,
          },
          { snapshotId: child, name: 'patched', description: '', parentSnapshotId: SNAPSHOT_ID },
        ],
        currentSnapshotId: child,
      }),
    );

    const run = await runCli(api, ['vms', 'snapshots', VM_ID]);

    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/│ base\s+│/);
    expect(run.stdout).toMatch(/│ {3}patched {2}<- you are here\s+│/);
  });

  it('vms get shows the lifecycle, the disks’ layers and the live exports', async () => {
    api.on('GET', `/vms/${VM_ID}`, (_request, response) =>
      sendJson(
        response,
        200,
        vmView({
          vmId: VM_ID,
          name: 'web-01',
          powerState: 'poweredOn',
          lifecycle: 'ready',
          hardware: {
            vcpus: 2,
            memoryBytes: 4 * GiB,
            hardwareVersion: 'vmx-19',
            guestOs: 'otherLinux64Guest',
          },
          disks: [
            {
              diskId: DISK_ID,
              label: 'Hard disk 1',
              capacityBytes: 16 * GiB,
              format: 'thin',
              layerId: 'layer-7',
              allocatedBytes: GiB,
            },
          ],
          nics: [{ network: 'VM Network', macAddress: '00:50:56:00:00:01' }],
          origin: {
            kind: 'clone',
            sourceVmId: SOURCE_ID,
            snapshotId: SNAPSHOT_ID,
            linked: true,
            format: 'same',
          },
          live: {
            workerId: 'worker-1',
            exports: [{ imageId: 'd-1', uri: 'nbd://127.0.0.1:10809/d-1', writable: true }],
            memoryImage: { imageId: 'mem', uri: 'nbd://127.0.0.1:10809/mem', writable: true },
          },
          version: 4,
        }),
      ),
    );

    const run = await runCli(api, ['vms', 'get', VM_ID]);

    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Lifecycle\s+│ ready/);
    expect(run.stdout).toContain(`linked clone of ${SOURCE_ID} at snapshot ${SNAPSHOT_ID}`);
    expect(run.stdout).toMatch(
      new RegExp(`${DISK_ID}\\s+│ 16 GiB\\s+│ thin\\s+│ layer-7\\s+│ 1 GiB`),
    );
    expect(run.stdout).toContain('Live on worker worker-1');
    expect(run.stdout).toContain('nbd://127.0.0.1:10809/d-1');
  });

  it('tasks get shows its progress and its error', async () => {
    const [, copying] = cloneTasks({});
    const error = { code: 'WORKER.LOST', message: 'worker-1 stopped answering', reasons: [] };
    api.on('GET', `/tasks/${TASK_ID}`, (_request, response) =>
      sendJson(response, 200, { ...copying, status: 'failed', error }),
    );

    const run = await runCli(api, ['tasks', 'get', TASK_ID]);

    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Progress\s+│ 50% \(512 MiB \/ 1 GiB\), copy/);
    expect(run.stdout).toMatch(/Error\s+│ WORKER.LOST: worker-1 stopped answering/);
  });

  it('tasks get shows every reason of a task refused for several', async () => {
    const [, copying] = cloneTasks({});
    const error = {
      code: 'IMPORT.REFUSED',
      message: 'appliance.ova was refused for 2 reasons',
      reasons: [
        { code: 'MANIFEST.DIGEST_MISMATCH', detail: 'its digest differs', at: 'disk1.vmdk' },
        { code: 'MANIFEST.MEMBER_NOT_LISTED', detail: 'extra.iso is not in the manifest' },
      ],
    };
    api.on('GET', `/tasks/${TASK_ID}`, (_request, response) =>
      sendJson(response, 200, { ...copying, status: 'failed', error }),
    );

    const run = await runCli(api, ['tasks', 'get', TASK_ID]);

    expect(run.code).toBe(0);
    expect(run.stdout).toContain('disk1.vmdk: its digest differs (MANIFEST.DIGEST_MISMATCH)');
    expect(run.stdout).toContain('extra.iso is not in the manifest (MANIFEST.MEMBER_NOT_LISTED)');
  });

  it('datastores get shows its space', async () => {
    api.on('GET', `/datastores/${DATASTORE_ID}`, (_request, response) =>
      sendJson(
        response,
        200,
        datastoreView({
          capacityBytes: 1024 * GiB,
          overcommitRatio: 2,
          space: {
            claimedPhysicalBytes: 256 * GiB,
            claimedProvisionedBytes: 512 * GiB,
            freeBytes: 768 * GiB,
            provisionableBytes: 2048 * GiB,
            measured: null,
          },
        }),
      ),
    );

    const run = await runCli(api, ['datastores', 'get', DATASTORE_ID]);

    expect(run.code).toBe(0);
    expect(run.stdout).toContain('256 GiB (25% of capacity)');
    expect(run.stdout).toMatch(/Free\s+│ 768 GiB/);
    expect(run.stdout).toContain('512 GiB of 2 TiB provisionable (25%)');
  });
});

describe('dolly datastores', () => {
  const target = { type: 'datastore', id: DATASTORE_ID };

  it('register --adopt asks to take over the datastore the folder holds', async () => {
    api.on('POST', '/datastores', (_request, response) =>
      sendJson(response, 202, accepted(TASK_ID, target)),
    );

    const run = await runCli(
      api,
      words(
        'datastores register --name ds-01 --capacity 1TiB --folder /srv/dolly/ds-01 --adopt --no-wait',
      ),
    );

    expect(run.code).toBe(0);
    expect(api.requestsTo('POST', '/datastores')[0].body).toEqual({
      name: 'ds-01',
      capacityBytes: 1024 * GiB,
      folder: '/srv/dolly/ds-01',
      overcommitRatio: 1,
      adopt: true,
    });
  });

  it('rename and remove name the datastore; a refusal says what stands on it', async () => {
    api.on('POST', `/datastores/${DATASTORE_ID}/rename`, (_request, response) =>
      sendJson(response, 202, accepted(TASK_ID, target)),
    );
    api.on('DELETE', `/datastores/${DATASTORE_ID}`, (_request, response) =>
      sendProblem(response, {
        status: 409,
        code: 'DATASTORE.IN_USE',
        detail: 'ds-01 is in use: 1 thing(s) stand on it',
        errors: [
          {
            code: 'DATASTORE.VM_STANDS_ON_IT',
            detail: `VM ${VM_ID} is registered on ds-01: delete it first`,
          },
        ],
      }),
    );

    const renamed = await runCli(api, words(`datastores rename ${DATASTORE_ID} gold --no-wait`));
    const removed = await runCli(api, words(`datastores remove ${DATASTORE_ID}`));

    expect(renamed.code).toBe(0);
    expect(api.requestsTo('POST', `/datastores/${DATASTORE_ID}/rename`)[0].body).toEqual({
      name: 'gold',
    });
    expect(removed.code).toBe(1);
    expect(removed.stderr).toContain(`VM ${VM_ID} is registered on ds-01: delete it first`);
  });
});
