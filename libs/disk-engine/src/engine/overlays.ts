/**
 * Empty overlays in constant time. An empty qcow2 overlay depends only on its backing string,
 * backing format, virtual size and cluster size: every overlay of one base is byte for byte the
 * same file. So qemu-img makes it once per base (a template kept under .dolly/templates), and a
 * linked clone or fork gets a copy instead of spawning qemu-img (about 10 ms). QEMU still makes
 * the bytes; the copy is what `qemu-img create -b` would have written, with its runs of zeros
 * left as holes (12 KiB written of about 200; holes read as the same zeros).
 *
 * Creating a file and syncing it costs a journal commit (2-3 ms on our disks), so a few copies
 * per base ("spares") are written and synced ahead, off any operation's path, under temporary
 * names in the datastore folder; taking one is a rename. A crash leaves only temporary files,
 * which check removes. Spares and templates being made are named after the engine that makes
 * them (`ownedTemporaryFileName`), so that other engines sharing the datastore leave them alone.
 */
import { access, readFile, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type Layer } from '../model/layer-graph';
import { ownedTemporaryFileName } from '../model/names';
import { create } from '../qemu/qemu-img';
import { metadataPaths } from '../store/datastore-store';
import { type SparseImage, sparseImage, writeSparseDurably } from '../store/fs-atomic';

/** Templates (about 12 KiB each in memory) and their spares kept, for the most recent bases. */
const TEMPLATES_KEPT = 16;
/** Spares ready per base: a burst of forks this long takes no journal commit of its own. */
const SPARES_PER_BASE = 4;

interface Template {
  root: string;
  image: SparseImage;
  spares: string[];
  refilling?: Promise<void>;
  /** Let go (evicted or closed): its spares are removed, and none is made any more. */
  dropped?: boolean;
}

export class OverlayFactory {
  private readonly making = new Map<string, Promise<string>>();
  private readonly templates = new Map<string, Template>();
  private counter = 0;

  /** `ownerId`: the engine's (owners.ts), in the names of its spares and half-made templates. */
  constructor(private readonly ownerId: string) {}

  /** Puts an empty overlay of `base` at `path`, on disk when this resolves; the caller publishes it. */
  async write(root: string, base: Layer, path: string): Promise<void> {
    const template = await this.loadedOrMadeAgain(root, base);
    const spare = template.spares.shift();
    if (spare) await rename(spare, path);
    else await writeSparseDurably(path, template.image);
    this.refill(template);
  }

  /**
   * Another engine sharing the datastore may prune a template file whose layer it did not know
   * yet: the file is then made again.
   */
  private async loadedOrMadeAgain(root: string, base: Layer): Promise<Template> {
    const key = await this.template(root, base);
    try {
      return await this.loaded(root, key);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      this.making.delete(key);
      return this.loaded(root, await this.template(root, base));
    }
  }

  /**
   * Forgets the templates (and spares) of layers that are gone. The layers are asked for after
   * the folder is listed: a template another engine made is for a layer it had committed before,
   * so one listed here is never taken for the template of a layer not known yet.
   */
  async prune(
    root: string,
    liveLayers: () => ReadonlySet<string>,
    keepsTemporary: (name: string) => boolean,
  ): Promise<string[]> {
    const dir = metadataPaths(root).templates;
    const removed: string[] = [];
    const names = await readdir(dir).catch(() => [] as string[]);
    const liveLayerIds = liveLayers();
    for (const name of names) {
      const layerId = name.split('.')[0];
      if (name.startsWith('.') ? !keepsTemporary(name) : !liveLayerIds.has(layerId)) {
        const key = join(dir, name);
        await rm(key, { force: true });
        this.making.delete(key);
        await this.drop(key);
        removed.push(name);
      }
    }
    return removed;
  }

  /** Removes every spare (at stop). */
  async close(): Promise<void> {
    // Every template's spares, whatever one datastore says: a folder gone (ENOTDIR) must not
    // leave the spares on the others behind, where a later check finds them.
    const failures: unknown[] = [];
    for (const key of [...this.templates.keys()])
      await this.drop(key).catch((error: unknown) => failures.push(error));
    if (failures.length > 0) throw failures[0];
  }

  private async drop(key: string): Promise<void> {
    const template = this.templates.get(key);
    if (!template) return;
    this.templates.delete(key);
    template.dropped = true;
    await template.refilling;
    const failures: unknown[] = [];
    for (const spare of template.spares.splice(0))
      await rm(spare, { force: true }).catch((error: unknown) => failures.push(error));
    if (failures.length > 0) throw failures[0];
  }

  private async loaded(root: string, key: string): Promise<Template> {
    let template = this.templates.get(key);
    if (!template) {
      const image = sparseImage(await readFile(key));
      if (this.templates.size >= TEMPLATES_KEPT && !this.templates.has(key))
        await this.drop(this.templates.keys().next().value!);
      // Another overlay of this base may have loaded it meanwhile: one template per base, or the
      // one replaced would go on making spares that nothing removes.
      template = this.templates.get(key) ?? { root, image, spares: [] };
    }
    this.templates.delete(key); // most recently used last
    this.templates.set(key, template);
    return template;
  }

  private refill(template: Template): void {
    if (template.refilling || template.dropped) return;
    template.refilling = (async () => {
      while (!template.dropped && template.spares.length < SPARES_PER_BASE) {
        const spare = join(
          template.root,
          ownedTemporaryFileName(`spare-${++this.counter}`, this.ownerId),
        );
        try {
          await writeSparseDurably(spare, template.image);
        } catch (error) {
          // A spare written half-way is nobody's to take: it goes now, not at the next check.
          await rm(spare, { force: true }).catch(() => undefined);
          throw error;
        }
        template.spares.push(spare);
      }
    })()
      .catch(() => undefined)
      .finally(() => (template.refilling = undefined));
  }

  private template(root: string, base: Layer): Promise<string> {
    const name = `${base.layerId}.${base.capacityBytes}.${base.clusterSizeBytes}.qcow2`;
    const path = join(metadataPaths(root).templates, name);
    let made = this.making.get(path);
    if (!made) {
      made = this.make(path, base);
      this.making.set(path, made);
      made.catch(() => this.making.delete(path));
    }
    return made;
  }

  private async make(path: string, base: Layer): Promise<string> {
    const exists = await access(path).then(
      () => true,
      () => false,
    );
    if (exists) return path;
    const temporary = join(dirname(path), ownedTemporaryFileName(basename(path), this.ownerId));
    await create({
      file: temporary,
      capacityBytes: base.capacityBytes,
      clusterSizeBytes: base.clusterSizeBytes,
      format: 'thin',
      backingFileName: base.fileName,
    });
    await rename(temporary, path);
    return path;
  }
}
