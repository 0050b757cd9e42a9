import { DollyStack } from '@dolly/testing';
import {
  type Accepted,
  expectStatus,
  registerDatastore,
  registerHost,
  vmDefinition,
  workerServes,
} from './support/inventory';
import { type Vm, commandDone, getVm } from './support/vms';
import { runCli } from '../apps/cli/src/testing/run-cli';

/**
 * A task's progress stream says `end` only once the task's effect shows where a client reads it:
 * the task's row and its target's rows are projected from different partitions, so a client that
 * read the VM as soon as the task said succeeded could see it as it was before (the CLI printed a
 * VM just powered on as poweredOff).
 */
jest.setTimeout(180_000);

let stack: DollyStack;
let vmId: string;

beforeAll(async () => {
  stack = await DollyStack.start();
  const hostId = await registerHost(stack);
  const datastoreId = await registerDatastore(stack);
  await workerServes(stack, datastoreId);
  vmId = (await commandDone<Vm>(stack, 'POST', '/vms', vmDefinition(hostId, datastoreId))).vmId;
});
afterAll(() => stack?.stop());

/** Follows a task's stream to its `end`; the task it ended with. */
async function streamedToEnd(taskId: string): Promise<{ status: string }> {
  const response = await fetch(`${stack.apiUrl}/tasks/${taskId}/stream`, {
    headers: { authorization: `Bearer ${stack.tokens.admin}` },
  });
  expect(response.status).toBe(200);
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of response.body!) {
    text += decoder.decode(chunk, { stream: true });
    const end = /^event: end\ndata: (.*)$/m.exec(text);
    if (end) return JSON.parse(end[1]) as { status: string };
  }
  throw new Error(`The stream of task ${taskId} closed without an end: ${text}`);
}

describe('a task’s progress stream', () => {
  it('ends once the VM reads as the task left it, power change after power change', async () => {
    const onAndOff = [
      ['power-on', 'poweredOn'],
      ['power-off', 'poweredOff'],
    ];
    for (const [operation, state] of Array.from({ length: 4 }, () => onAndOff).flat()) {
      const accepted = expectStatus(
        await stack.request<Accepted>('POST', `/vms/${vmId}/${operation}`),
        202,
      );
      expect((await streamedToEnd(accepted.taskId!)).status).toBe('succeeded');
      expect((await getVm(stack, vmId)).powerState).toBe(state);
    }
  });

  it('lets the CLI print the VM as the task left it', async () => {
    const run = await runCli({ url: stack.apiUrl, token: stack.tokens.admin }, [
      'vms',
      'power-on',
      vmId,
    ]);
    const output = run.stdout + run.stderr;

    expect({ code: run.code, output }).toEqual({
      code: 0,
      output: expect.stringContaining('poweredOn'),
    });
    expect(output).not.toContain('poweredOff');
  });
});
