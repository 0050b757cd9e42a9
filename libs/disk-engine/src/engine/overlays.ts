/**
 * Empty overlays in constant time. An empty qcow2 overlay depends only on its backing string,
 * backing format, virtual size and cluster size: every overlay of one base is byte for byte the
 * same file. So qemu-img makes it once per base (a template kept under .dolly/templates), and
 * each linked clone or fork copies those ~200 KiB instead of spawning qemu-img (about 10 ms).
 * QEMU still makes the bytes; the copy is what `qemu-img create -b` would have written.
 */
import { access, copyFile, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type Layer } from '../model/layer-graph';
import { create } from '../qemu/qemu-img';
import { metadataPaths } from '../store/datastore-store';

function templateName(base: Layer): string {
  return `${base.layerId}.${base.capacityBytes}.${base.clusterSizeBytes}.qcow2`;
}

export class OverlayFactory {
  private readonly making = new Map<string, Promise<string>>();

  /** Writes an empty overlay of `base` at `path` (a temporary name the caller publishes). */
  async write(root: string, base: Layer, path: string): Promise<void> {
    await copyFile(await this.template(root, base), path);
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
