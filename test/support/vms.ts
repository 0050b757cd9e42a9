import type { DollyStack } from '@dolly/testing';
import { type Accepted, expectStatus, wait } from './inventory';

export type Export = { imageId: string; uri: string; writable: boolean };
export type Vm = {
  vmId: string;
  name: string;
  role: string;
  powerState: string;
  lifecycle: string;
  biosUuid: string;
  hardware: { vcpus: number; memoryBytes: number };
  nics: { macAddress: string }[];
  disks: { diskId: string; layerId: string | null; format: string; capacityBytes: number }[];
  origin: {
    kind: string;
    sourceVmId?: string;
    linked?: boolean;
    parentVmId?: string;
    replicaVmId?: string | null;
    poolId?: string | null;
  };
  snapshots: { snapshotId: string; name: string }[];
  currentSnapshotId: string | null;
  linkedClones: string[];
  live: { workerId: string; exports: Export[]; memoryImage: Export } | null;
};
export type Problem = {
  status: number;
  code: string;
  detail: string;
  errors?: { code: string; detail: string; pointer?: string }[];
};

export async function getVm(stack: DollyStack, vmId: string): Promise<Vm> {
  return expectStatus(await stack.request<Vm>('GET', `/vms/${vmId}`), 200);
}

/** Runs a command and waits for its task to succeed: the answer's resource is what it changed. */
export async function commandDone<Resource = Vm>(
  stack: DollyStack,
  method: string,
  path: string,
  body?: unknown,
): Promise<Resource> {
  const answer = await stack.request<Accepted>(method, path, { body, headers: wait(120) });
  if (answer.status !== 200 && answer.status !== 201)
    throw new Error(`${method} ${path}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
  if (answer.body.task?.status !== 'succeeded')
    throw new Error(`${method} ${path}: task ${JSON.stringify(answer.body.task)}`);
  return answer.body.resource as unknown as Resource;
}
