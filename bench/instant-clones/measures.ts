/** What the instant-clone benchmark handles and records, and the pure summaries it makes. */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { allocatedBytes } from '../../test/support/disks';
import { type Desktop, type Pool } from '../../test/support/pools';
import { type BenchWorker } from '../bench-workers';
import { round, summarise } from '../support';
import type { VmDone, latency, loadSummary } from '../timed-commands';
import { type ImageSize } from './settings';

export interface Datastore {
  datastoreId: string;
  folder: string;
}

/** A worker and the one datastore it serves (two workers must not write one: bench-workers.ts). */
export interface Site {
  worker: BenchWorker;
  datastore: Datastore;
}

/** A golden image: a VM whose disk holds the data, snapshotted. */
export interface Golden {
  size: ImageSize;
  vmId: string;
  snapshotId: string;
  datastore: Datastore;
}

/** A running parent to fork from: a linked clone of a golden image's snapshot, powered on. */
export interface Parent {
  vmId: string;
  golden: Golden;
}

/** The files a fork made: its disk overlay and its memory overlay, and what they take. */
export interface CloneFiles {
  diskFile: string;
  memoryFile: string | null;
  /** Files the fork added beside those two (none expected). */
  otherNewFiles: number;
  diskAllocatedBytes: number;
  memoryAllocatedBytes: number;
  diskApparentBytes: number;
  memoryApparentBytes: number;
}

/** The files a fork's overlays stand on: the parent's frozen disk layer and memory image. */
export interface Bases {
  disk: string;
  memory: string;
}

export type Latency = ReturnType<typeof latency>;
export type LoadSummary = ReturnType<typeof loadSummary>;

export interface ThroughputRun {
  how: string;
  workers: number;
  parents: number;
  clones: number;
  succeeded: number;
  failed: number;
  wallMs: number;
  clonesPerSecond: number;
  clonesPerWorker: Record<string, number>;
  load: LoadSummary;
  [more: string]: unknown;
}

export interface BareFloor {
  workers: number;
  concurrency: number;
  pairs: number;
  wallMs: number;
  pairsPerSecond: number;
  pairMs: Latency;
  cpuMsPerPair: number;
  load: LoadSummary;
}

/** One user's entitlement request: the answer, and the desktop it named. */
export interface Entitled {
  userId: string;
  status: number;
  code: string | null;
  desktop: Desktop | null;
  sentAt: number;
  answerMs: number;
}

export interface Teardown {
  gone: boolean;
  ms: number;
  countsWhenGivenUp?: Pool['counts'];
  lifecycle?: string;
}

export interface PoolAtScale {
  maxMachines: number;
  spareMachines: number;
  /** Push image rolled through every desktop: each user logs off and comes back to the new image. */
  push?: Audit & {
    imageBuiltMs: number;
    users: number;
    rolledThroughMs: number;
    desktopsPerSecond: number;
    logoffAnswerMs: Latency;
    logoffRefusals: string[];
    timedOut: boolean;
    countsAfter: Pool['counts'] | undefined;
    load: LoadSummary;
  };
  imageBuiltMs?: number;
  sparesReadyAfterCreateMs?: number;
  rush?: Audit & {
    users: number;
    answerMs: Latency;
    allAnsweredMs: number;
    answerGapMsByFifth: number[];
    userToRunningDesktopMs: Latency;
    allDesktopsReadyAndSparesBackMs: number;
    timedOut: boolean;
    desktopsRunningWithExports: number;
    countsAfter: Pool['counts'] | undefined;
    sparesKeptAt: number | undefined;
    load: LoadSummary;
  };
  fill?: {
    users: number;
    machinesBefore: number;
    machinesAfter: number | undefined;
    forked: number;
    wallMs: number;
    clonesPerSecond: number;
    allAnsweredMs: number;
    answerGapMsByFifth: number[];
    answerMs: Latency;
    userToRunningDesktopMs: Latency;
    timedOut: boolean;
    countsAfter: Pool['counts'] | undefined;
    load: LoadSummary;
  };
  allUsers?: Audit & { users: number };
  forkTasks?: Record<string, unknown>;
  streams?: Record<string, number>;
  teardown?: Teardown;
  error?: string;
}

/** How many of each: workers, statuses. */
export function tally(keys: (string | null)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const key of keys) counts[key ?? 'none'] = (counts[key ?? 'none'] ?? 0) + 1;
  return counts;
}

export type Audit = ReturnType<typeof audit>;
/** Every user on exactly one machine, the one they were answered with; no machine shared. */
export function audit(seen: Pool, entitled: Entitled[]) {
  const holders = new Map<string, number>();
  for (const m of seen.machines)
    if (m.userId) holders.set(m.userId, (holders.get(m.userId) ?? 0) + 1);
  const given = entitled.flatMap((e) => (e.desktop ? [e.desktop.vmId] : []));
  return {
    answered: entitled.filter((e) => e.desktop && [200, 202].includes(e.status)).length,
    statuses: tally(entitled.map((e) => String(e.status))),
    refusals: [...new Set(entitled.flatMap((e) => (e.code ? [e.code] : [])))],
    distinctDesktopsGiven: new Set(given).size,
    usersOnExactlyOneMachine: entitled.filter((e) => holders.get(e.userId) === 1).length,
    usersOnTheMachineTheyWereGiven: entitled.filter((e) =>
      seen.machines.some((m) => m.userId === e.userId && m.vmId === e.desktop?.vmId),
    ).length,
    machinesWithAUser: seen.machines.filter((m) => m.userId !== null).length,
  };
}

/** Request sent → the user's desktop runs: at the answer for a ready spare, else when seen ready. */
export function toDesktopMs(entitled: Entitled[], readyAt: Map<string, number>): number[] {
  return entitled.flatMap((e) => {
    if (!e.desktop) return [];
    if (e.desktop.status === 'ready') return [e.answerMs];
    const at = readyAt.get(e.desktop.vmId);
    return at === undefined ? [] : [at - e.sentAt];
  });
}

/**
 * CPU milliseconds Dolly's processes used (apps, storage daemons, the Kafka broker; not
 * PostgreSQL, which runs apart), and the bare side's (the benchmark's qemu-img and sync children).
 */
export function cpuSplit(load: LoadSummary) {
  const byLabel = load.processTreeCpuMsByLabel ?? {};
  const sum = (labels: string[]) =>
    labels.reduce((total, label) => total + (byLabel[label] ?? 0), 0);
  return {
    dolly: sum(['api', 'projector', 'worker', 'worker children', 'qemu-storage-daemon', 'java']),
    bare: sum(['bench children']),
  };
}

/** Medians of consecutive fifths of a series: whether it grows as the run goes on. */
export function byFifth(samples: number[]): number[] {
  const size = Math.max(1, Math.ceil(samples.length / 5));
  const fifths: number[] = [];
  for (let i = 0; i < samples.length; i += size)
    fifths.push(round(summarise(samples.slice(i, i + size)).p50));
  return fifths;
}

/** A clone counts as forked once it runs and its disk and memory image are exported. */
export const forked: VmDone = (vm) =>
  vm.lifecycle === 'ready' &&
  vm.powerState === 'poweredOn' &&
  (vm.live?.exports.length ?? 0) > 0 &&
  Boolean(vm.live?.memoryImage?.uri);

export const bytesSummary = (samples: number[]) => {
  const s = summarise(samples);
  return { p50: s.p50, max: s.max, mean: round(s.mean) };
};

/** Bytes the files under a folder take (blocks), the engine's metadata included. */
export function folderAllocatedBytes(folder: string): number {
  let total = 0;
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    total += entry.isDirectory() ? folderAllocatedBytes(path) : allocatedBytes(path);
  }
  return total;
}
