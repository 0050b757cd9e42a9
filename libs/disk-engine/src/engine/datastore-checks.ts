/**
 * Check as the engine runs it: every served datastore in turn (check.ts judges one), at a start
 * and on demand; which datastores are degraded (a layer qemu-img gave no answer on); what check
 * set aside (quarantined layers, unknown files).
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chainOf, layersOfDatastore } from '../model/layer-graph';
import { assertValidId } from '../model/names';
import { type CheckDatastores, type QuarantineEntry } from '../port';
import { metadataPaths } from '../store/datastore-store';
import { type CheckFinding, type CheckHost, type CheckReport, checkDatastore } from './check';
import { type DegradedDatastore } from './engine-config';
import { type EngineContext } from './engine-context';
import { layerKey } from './locks';
import { quarantine } from './plans/quarantine';
import { pruneTemplates } from './reclaim';

export class DatastoreChecks {
  private readonly degradedBy = new Map<string, DegradedDatastore>();

  constructor(private readonly ctx: EngineContext) {}

  async check(command: CheckDatastores): Promise<CheckReport> {
    assertValidId('operation', command.operationId);
    this.ctx.runner.refreshAll();
    return this.checkAll({
      repair: command.repair,
      deep: true,
      suspects: new Set(),
      imageTimeoutMs: this.ctx.config.checkImageTimeoutMs,
    });
  }

  async checkAll(scope: {
    repair: boolean;
    deep: boolean;
    suspects: ReadonlySet<string>;
    imageTimeoutMs?: number;
  }): Promise<CheckReport> {
    const findings: CheckFinding[] = [];
    let imagesChecked = 0;
    const runner = this.ctx.runner;
    for (const ds of runner.datastores.values()) {
      const host: CheckHost = {
        now: () => this.ctx.now(),
        graph: () => runner.graph,
        records: () => [...runner.records.values()],
        refresh: () => runner.refreshAll(),
        // Check reports operations cut short itself, so the section leaves them to it.
        section: (section) => runner.section(ds.datastoreId, section, false),
        takeTornTailBytes: () => ds.store.takeTornTailBytes(),
        // Check judges what was cut short: it asks the owner's lock now, not a sighting a second old.
        isRunning: (record) => runner.isRunning(record, { fresh: true }),
        isBusy: (layerId) => runner.isHeld(layerKey(layerId)),
        isOpen: (layerId) => this.ctx.live.isOpen(layerId),
        keepsTemporaryFile: (name) => this.ctx.owners.keepsTemporary(ds.root, name),
        finishCutShort: (record) => runner.finishCutShort(record),
        quarantine: (datastoreId, layerId, reason) =>
          quarantine(this.ctx, datastoreId, layerId, reason),
      };
      const result = await checkDatastore(
        host,
        { datastoreId: ds.datastoreId, root: ds.root },
        scope,
      );
      findings.push(...result.findings);
      imagesChecked += result.imagesChecked;
      this.noteDegraded(ds.datastoreId, result.findings);
      if (scope.repair) await pruneTemplates(this.ctx, ds.datastoreId);
    }
    return { checkedAt: this.ctx.now(), imagesChecked, findings, clean: findings.length === 0 };
  }

  /**
   * A check that found layers qemu-img gave no answer on (it could not run, crashed, timed out)
   * leaves them as they are and the datastore degraded, until a check judges them all.
   */
  private noteDegraded(datastoreId: string, findings: CheckFinding[]): void {
    const unanswered = findings.filter((f) => f.kind === 'undetermined');
    if (unanswered.length === 0) {
      this.degradedBy.delete(datastoreId);
      return;
    }
    const first = unanswered[0].detail ?? {};
    const said = typeof first.message === 'string' ? `: ${first.message}` : '';
    this.degradedBy.set(datastoreId, {
      datastoreId,
      reason: `qemu-img gave no answer on ${unanswered.length} layer(s) or operation(s)${said}; they are left as they are`,
      subjects: unanswered.map((f) => f.subject),
    });
  }

  /** The served datastores whose last check could not judge every layer. */
  degraded(): DegradedDatastore[] {
    return [...this.degradedBy.values()];
  }

  async quarantined(datastoreId: string): Promise<QuarantineEntry[]> {
    assertValidId('datastore', datastoreId);
    this.ctx.runner.refreshAll();
    const root = this.ctx.rootOf(datastoreId);
    const graph = this.ctx.runner.graph;
    const size = (path: string) =>
      lstat(path).then(
        (s) => s.size,
        () => 0,
      );
    const entries: QuarantineEntry[] = [];
    for (const layer of layersOfDatastore(graph, datastoreId).filter((l) => l.quarantined))
      entries.push({
        kind: 'layer',
        entry: layer.layerId,
        fileName: layer.fileName,
        sizeBytes: await size(join(root, layer.fileName)),
        diskIds: Object.values(graph.disks)
          .filter((d) => chainOf(graph, d.topLayerId).some((l) => l.layerId === layer.layerId))
          .map((d) => d.diskId)
          .sort(),
        restorable: true,
      });
    const folder = metadataPaths(root).quarantine;
    const names = await readdir(folder).catch(() => [] as string[]);
    for (const name of names.sort())
      entries.push({
        kind: 'file',
        entry: name,
        fileName: name,
        sizeBytes: await size(join(folder, name)),
        diskIds: [],
        restorable: false,
      });
    return entries;
  }
}
