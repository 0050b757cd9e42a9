/**
 * Empty overlays in constant time. An empty qcow2 overlay depends only on its backing string,
 * backing format, virtual size and cluster size: every overlay of one base is byte for byte the
 * same file. So qemu-img makes it once per base (a template kept under .dolly/templates), and
 * each linked clone or fork writes those ~200 KiB (kept in memory) instead of spawning qemu-img
 * (about 10 ms).
 * QEMU still makes the bytes; the copy is what `qemu-img create -b` would have written.
 */
import { access, readFile, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type Layer } from '../model/layer-graph';
import { create } from '../qemu/qemu-img';
import { metadataPaths } from '../store/datastore-store';
import { writeDurably } from '../store/fs-atomic';

function templateName(base: Layer): string {
  return `${base.layerId}.${base.capacityBytes}.${base.clusterSizeBytes}.qcow2`;
}

/** Templates kept in memory (about 200 KiB each): the bases cloned from most recently. */
const TEMPLATES_IN_MEMORY = 16;

export class OverlayFactory {
  private readonly making = new Map<string, Promise<string>>();
  private readonly bytes = new Map<string, Buffer>();

  /** Writes an empty overlay of `base` at `path`, on disk when this resolves; the caller publishes it. */
  async write(root: string, base: Layer, path: string): Promise<void> {
    const template = await this.template(root, base);
    let bytes = this.bytes.get(template);
    if (!bytes) {
      bytes = await readFile(template);
      this.bytes.set(template, bytes);
      if (this.bytes.size > TEMPLATES_IN_MEMORY) this.bytes.delete(this.bytes.keys().next().value!);
    } else {
      this.bytes.delete(template); // most recently used last
      this.bytes.set(template, bytes);
    }
    await writeDurably(path, bytes);
  }

  /** Forgets the templates of layers that are gone (their backing string names no layer). */
  async prune(root: string, liveLayerIds: ReadonlySet<string>): Promise<string[]> {
    const dir = metadataPaths(root).templates;
    const removed: string[] = [];
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const layerId = name.split('.')[0];
      if (name.startsWith('.') || !liveLayerIds.has(layerId)) {
        await rm(join(dir, name), { force: true });
        this.making.delete(join(dir, name));
        this.bytes.delete(join(dir, name));
        removed.push(name);
      }
    }
    return removed;
  }

  private template(root: string, base: Layer): Promise<string> {
    const path = join(metadataPaths(root).templates, templateName(base));
    let made = this.making.get(path);
    if (!made) {
      made = this.make(path, base);
      this.making.set(path, made);
      made.catch(() => this.making.delete(path));
    }
    return made;
  }

  private async make(path: string, base: Layer): Promise<string> {
    if (
      await access(path).then(
        () => true,
        () => false,
      )
    )
      return path;
    const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
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
