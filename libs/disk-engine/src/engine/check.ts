/**
 * check: the datastore folder against the layer graph, at start-up and on demand.
 *
 * - operations cut short by a crash are finished from the files alone: rolled forward when the
 *   intent's completion probe holds (the in-place change is done), otherwise rolled back (their
 *   temporary and published files removed: nobody could have written to those yet);
 * - temporary files of no running operation are removed; image files no layer names are removed
 *   when a logged operation released them, and quarantined (moved aside) otherwise;
 * - every layer's file must exist, be qcow2, stand on the backing file its graph says (a bare
 *   name in this folder) and pass `qemu-img check`; leaked clusters are repaired (that frees
 *   space and touches no data), anything else is quarantined, and what stands on it too. An
 *   image qemu-img check cannot take (most often: another process holds it open for writing,
 *   another worker's daemon or the qemu-img of a worker being killed) is reported `not-checked`
 *   and left for a later check, never read while written.
 * Nothing here discards data a layer holds: it moves, it never deletes a layer's file.
 *
 * Other engines may work on the datastore meanwhile. Their operations under way (owner alive)
 * are not cut short and their files are not strays; their spare overlays are kept. Steps 1 and
 * 2 run as the datastore's one writer (its section), so that no operation starts or ends between
 * reading the log and reading the folder. The image checks of step 3 are long and run outside,
 * skipping layers that operations under way hold; a layer found broken is looked at again, on
 * the graph as it is then, before it is quarantined.
 */
import { readdir, rename, rm } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DiskEngineError, isDiskEngineError } from '../errors';
import { type DiskEngineEvent } from '../model/events';
import { type Layer, type LayerGraph, chainOf, layersOfDatastore } from '../model/layer-graph';
import { isTemporaryFileName } from '../model/names';
import { type OperationRecord } from '../model/operation-log';
import { check as qemuCheck, probeImage } from '../qemu/qemu-img';
import { METADATA_DIR, metadataPaths } from '../store/datastore-store';

export type FindingKind =
  | 'torn-log-tail'
  | 'unfinished-operation'
  | 'temporary-file'
  | 'released-file'
  | 'orphan-file'
  | 'missing-file'
  | 'not-qcow2'
  | 'wrong-backing'
  | 'backing-outside-datastore'
  | 'broken-chain'
  | 'qcow2-leaks'
  | 'qcow2-corrupt'
  | 'not-checked'
  | 'undetermined';

export type FindingAction =
  'rolled-forward' | 'rolled-back' | 'removed' | 'repaired' | 'quarantined' | 'reported';

export interface CheckFinding {
  datastoreId: string;
  kind: FindingKind;
  /** A file name in the datastore folder, a layer id or an operation id. */
  subject: string;
  action: FindingAction;
  detail?: Record<string, unknown>;
}

export interface CheckReport {
  checkedAt: string;
  /** Layers whose image was run through qemu-img check (all of them in a deep check). */
  imagesChecked: number;
  findings: CheckFinding[];
  /** True when nothing needed doing. */
  clean: boolean;
}

export interface CheckScope {
  repair: boolean;
  /** How long one qemu-img run may take before its answer counts as none (default 120 s). */
  imageTimeoutMs?: number;
  /** Run qemu-img info and check on every layer; otherwise only on `suspects`. */
  deep: boolean;
  /** Layers that may have been written when the worker died (open writable, touched by an op). */
  suspects: ReadonlySet<string>;
}

/** What check may do to the engine: finish logged operations, quarantine layers. */
export interface CheckHost {
  now(): string;
  graph(): LayerGraph;
  records(): OperationRecord[];
  /** Reads what other engines logged, without waiting for their lock. */
  refresh(): void;
  /** Runs `section` as the datastore's one writer, the log read up to its end. */
  section<T>(section: () => Promise<T>): Promise<T>;
  /** Bytes of a torn log line cut since the last check. */
  takeTornTailBytes(): number;
  /** Whether an unfinished operation is under way (here, or in another engine that is alive). */
  isRunning(record: OperationRecord): boolean;
  /** Whether an operation under way holds the layer (it may be changing its file). */
  isBusy(layerId: string): boolean;
  isOpen(layerId: string): boolean;
  /** Temporary files kept on purpose (spare overlays of engines that are alive). */
  keepsTemporaryFile(name: string): boolean;
  /** Rolls an operation cut short forward or back, from the files (inside a section). */
  finishCutShort(record: OperationRecord): Promise<'rolled-forward' | 'rolled-back'>;
  quarantine(datastoreId: string, layerId: string, reason: string): Promise<void>;
}

async function fileExists(root: string, name: string): Promise<boolean> {
  return readdir(root).then((names) => names.includes(name));
}

/**
 * Whether an operation's in-place change finished, judged from the image headers. Only QEMU's
 * answer decides: a qemu-img that gives none (cannot run, crashes, times out, prints nonsense)
 * makes it `undetermined`, and the operation is left as it is for a later check: rolling back a
 * change that finished would remove what it published.
 */
export async function probeHolds(
  root: string,
  record: OperationRecord,
  timeoutMs?: number,
): Promise<boolean | 'undetermined'> {
  const probe = record.intent.completedWhen;
  if (!probe) return false;
  if (probe.absentFileName && (await fileExists(root, probe.absentFileName))) return false;
  if (!(await fileExists(root, probe.fileName))) return false;
  const seen = await probeImage(join(root, probe.fileName), { forceShare: true, timeoutMs });
  if (seen.kind === 'undetermined') return 'undetermined';
  if (seen.kind === 'refused' || seen.info.format !== 'qcow2') return false;
  return seen.info.backingFileName === probe.backingFileName;
}

/** Thrown by finishCutShort when qemu-img could not say whether the change finished. */
export const UNDETERMINED_PROBE = 'qemu-img gave no answer on whether the operation finished';

export async function checkDatastore(
  host: CheckHost,
  datastore: { datastoreId: string; root: string },
  scope: CheckScope,
): Promise<{ findings: CheckFinding[]; imagesChecked: number }> {
  const { datastoreId, root } = datastore;
  const findings: CheckFinding[] = [];
  const found = (
    kind: FindingKind,
    subject: string,
    action: FindingAction,
    detail?: Record<string, unknown>,
  ) => findings.push({ datastoreId, kind, subject, action, ...(detail ? { detail } : {}) });
  const touched = new Set(scope.suspects);

  await host.section(async () => {
    const tornTailBytes = host.takeTornTailBytes();
    if (tornTailBytes)
      found('torn-log-tail', 'oplog.jsonl', 'repaired', { cutBytes: tornTailBytes });

    // 1. Operations cut short.
    const ours = () => host.records().filter((r) => r.datastoreId === datastoreId);
    for (const record of ours().filter((r) => r.status === 'started' && !host.isRunning(r))) {
      for (const event of record.intent.events) {
        if ('layerId' in event.data) touched.add(event.data.layerId);
        if (event.type === 'LayerMerged') touched.add(event.data.mergedLayerId);
      }
      let action: 'rolled-forward' | 'rolled-back';
      try {
        const holds = scope.repair ? undefined : await probeHolds(root, record);
        if (holds === 'undetermined')
          throw new DiskEngineError('DISK.QEMU_FAILED', UNDETERMINED_PROBE, { undetermined: true });
        action = scope.repair
          ? await host.finishCutShort(record)
          : holds
            ? 'rolled-forward'
            : 'rolled-back';
      } catch (error) {
        if (!isDiskEngineError(error, 'DISK.QEMU_FAILED') || !error.details.undetermined)
          throw error;
        // Left as it is (neither rolled forward nor back) until qemu-img answers.
        found('undetermined', record.operationId, 'reported', {
          kind: record.kind,
          message: UNDETERMINED_PROBE,
        });
        continue;
      }
      found('unfinished-operation', record.operationId, scope.repair ? action : 'reported', {
        kind: record.kind,
        ...(scope.repair ? {} : { would: action }),
      });
    }

    // 2. Files no layer names.
    const byFile = new Set(layersOfDatastore(host.graph(), datastoreId).map((l) => l.fileName));
    const running = new Set(
      ours()
        .filter((r) => r.status === 'started' && host.isRunning(r))
        .flatMap((r) => [...r.intent.temporaryFiles, ...r.intent.publishedFiles]),
    );
    const released = new Set(
      ours().flatMap((r) => [...r.intent.removedFiles, ...r.intent.publishedFiles]),
    );
    const quarantineDir = metadataPaths(root).quarantine;
    for (const name of await readdir(root)) {
      if (name === METADATA_DIR || running.has(name) || byFile.has(name)) continue;
      if (host.keepsTemporaryFile(name)) continue;
      if (isTemporaryFileName(name)) {
        // Recursive: a temporary name may be a folder (an export's staging folder).
        if (scope.repair) await rm(join(root, name), { force: true, recursive: true });
        found('temporary-file', name, scope.repair ? 'removed' : 'reported');
      } else if (name.endsWith('.qcow2') && released.has(name)) {
        if (scope.repair) await rm(join(root, name), { force: true });
        found('released-file', name, scope.repair ? 'removed' : 'reported');
      } else {
        if (scope.repair)
          await rename(join(root, name), join(quarantineDir, `${host.now()}-${name}`));
        found('orphan-file', name, scope.repair ? 'quarantined' : 'reported');
      }
    }
  });

  // 3. Every layer against its image.
  let imagesChecked = 0;
  const inspect = async (graph: LayerGraph, present: ReadonlySet<string>, layer: Layer) => {
    if (!present.has(layer.fileName)) return { kind: 'missing-file' as const };
    if (!scope.deep && !touched.has(layer.layerId)) return undefined;
    imagesChecked += 1;
    return inspectLayer(root, graph, layer, {
      repair: scope.repair && !host.isOpen(layer.layerId),
      forceShare: host.isOpen(layer.layerId),
      timeoutMs: scope.imageTimeoutMs ?? DEFAULT_IMAGE_TIMEOUT_MS,
    });
  };
  const candidates = async (layers: Layer[]) => {
    const graph = host.graph();
    const present = new Set(await readdir(root));
    const broken = new Map<string, LayerProblem>();
    for (const layer of layers) {
      if (!graph.layers[layer.layerId] || layer.quarantined || host.isBusy(layer.layerId)) continue;
      const problem = await inspect(graph, present, graph.layers[layer.layerId]);
      if (problem) broken.set(layer.layerId, problem);
    }
    return broken;
  };
  const first = await candidates(layersOfDatastore(host.graph(), datastoreId));
  const broken = new Map<string, { kind: FindingKind; detail?: Record<string, unknown> }>();
  for (const [layerId, problem] of first) {
    if (problem.kind === 'qcow2-leaks')
      found('qcow2-leaks', layerId, problem.repaired ? 'repaired' : 'reported', problem.detail);
    if (problem.kind === 'not-checked' || problem.kind === 'undetermined')
      found(problem.kind, layerId, 'reported', problem.detail);
  }
  // Another engine may have changed a layer while it was looked at: what still looks broken on
  // the graph as it is now is.
  const suspicious = [...first].filter(([, p]) => quarantines(p)).map(([id]) => id);
  if (suspicious.length) {
    host.refresh();
    const graph = host.graph();
    const again = await candidates(suspicious.flatMap((id) => graph.layers[id] ?? []));
    for (const [layerId, problem] of again) if (quarantines(problem)) broken.set(layerId, problem);
  }
  // What stands on a broken layer cannot be read either.
  const graph = host.graph();
  const layers = layersOfDatastore(graph, datastoreId);
  for (const layer of layers.filter((l) => !l.quarantined && !broken.has(l.layerId))) {
    const below = chainOf(graph, layer.layerId)
      .slice(1)
      .find((l) => broken.has(l.layerId));
    if (below)
      broken.set(layer.layerId, { kind: 'broken-chain', detail: { brokenLayerId: below.layerId } });
  }
  for (const [layerId, problem] of broken) {
    if (scope.repair) await host.quarantine(datastoreId, layerId, problem.kind);
    found(problem.kind, layerId, scope.repair ? 'quarantined' : 'reported', problem.detail);
  }
  return { findings, imagesChecked };
}

export type LayerProblem =
  | { kind: 'qcow2-leaks'; repaired: boolean; detail: Record<string, unknown> }
  | { kind: Exclude<FindingKind, 'qcow2-leaks'>; detail?: Record<string, unknown> };

/**
 * Leaks are repaired in place, and an image not checked, or on which qemu-img gave no answer
 * (it could not run, crashed, timed out, printed nonsense), is not known to be broken.
 */
const quarantines = (problem: LayerProblem) =>
  problem.kind !== 'qcow2-leaks' &&
  problem.kind !== 'not-checked' &&
  problem.kind !== 'undetermined';

const DEFAULT_IMAGE_TIMEOUT_MS = 120_000;

/** Pauses before asking again for an image another process holds: a killed worker's qemu-img dies within them. */
const HELD_RETRY_PAUSES_MS = [50, 200, 750];

/** One layer's image against the graph: undefined when sound. */
export async function inspectLayer(
  root: string,
  graph: LayerGraph,
  layer: Layer,
  options: { repair: boolean; forceShare: boolean; timeoutMs: number; signal?: AbortSignal },
): Promise<LayerProblem | undefined> {
  const path = join(root, layer.fileName);
  const seen = await probeImage(path, {
    forceShare: true,
    timeoutMs: options.timeoutMs,
    signal: options.signal,
  });
  if (seen.kind === 'undetermined') return { kind: 'undetermined', detail: seen.detail };
  if (seen.kind === 'refused') return { kind: 'not-qcow2', detail: { error: seen.detail } };
  const probed = seen.info;
  if (probed.format !== 'qcow2') return { kind: 'not-qcow2', detail: { format: probed.format } };
  const expected = layer.backingLayerId
    ? (graph.layers[layer.backingLayerId]?.fileName ?? null)
    : null;
  const actual = probed.backingFileName;
  if (actual !== null && (isAbsolute(actual) || actual.includes('/'))) {
    return { kind: 'backing-outside-datastore', detail: { backingFileName: actual } };
  }
  if (actual !== expected || (actual !== null && probed.backingFormat !== 'qcow2')) {
    return {
      kind: 'wrong-backing',
      detail: { expected, actual, backingFormat: probed.backingFormat },
    };
  }
  if (probed.corrupt) return { kind: 'qcow2-corrupt', detail: { corruptFlag: true } };
  const result = await checkUnlessHeld(path, options.forceShare, options.timeoutMs);
  if ('heldBy' in result) return { kind: 'not-checked', detail: result.heldBy };
  if ('undetermined' in result) return { kind: 'undetermined', detail: result.undetermined };
  if (result.corruptions > 0 || result.checkErrors > 0) {
    return {
      kind: 'qcow2-corrupt',
      detail: { corruptions: result.corruptions, checkErrors: result.checkErrors },
    };
  }
  if (result.leaks > 0) {
    const repaired = options.repair
      ? await qemuCheck(path, { repair: 'leaks', timeoutMs: options.timeoutMs }).then(
          (fixed) => fixed.leaksFixed > 0,
          () => false,
        )
      : false;
    return { kind: 'qcow2-leaks', repaired, detail: { leaks: result.leaks } };
  }
  return undefined;
}

/**
 * `qemu-img check` takes the image's lock unless told to share (it must not read an image being
 * written), so it fails while another process holds the image open for writing. Asked again for
 * a moment; then the image is left for a later check.
 */
async function checkUnlessHeld(
  path: string,
  forceShare: boolean,
  timeoutMs: number,
): Promise<
  | Awaited<ReturnType<typeof qemuCheck>>
  | { heldBy: Record<string, unknown> }
  | { undetermined: Record<string, unknown> }
> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await qemuCheck(path, { forceShare, timeoutMs });
    } catch (error) {
      const refused =
        isDiskEngineError(error, 'DISK.QEMU_FAILED') &&
        error.details.exitCode === 1 &&
        !error.details.timedOut;
      if (forceShare || !refused)
        return {
          undetermined: isDiskEngineError(error)
            ? { message: error.message, ...error.details }
            : { message: String(error) },
        };
      const pause = HELD_RETRY_PAUSES_MS[attempt];
      if (pause === undefined) return { heldBy: error.details };
      await sleep(pause);
    }
  }
}

export function quarantineEvents(
  graph: LayerGraph,
  datastoreId: string,
  layerId: string,
  reason: string,
): DiskEngineEvent[] {
  return graph.layers[layerId]
    ? [{ type: 'LayerQuarantined', data: { datastoreId, layerId, reason } }]
    : [];
}
