/**
 * Block I/O for the control plane: small reads and writes through the daemon's NBD exports
 * (exported for the time of the call when not live), and block maps (qemu-img map offline;
 * live, the daemon's own block status).
 */
import { type LiveExport } from '../daemon/live-graph';
import { DiskEngineError } from '../errors';
import {
  type BlockMap,
  compactBlockMap,
  extentsFromNbd,
  type NbdMapEntry,
} from '../model/block-map';
import { type LayerRef, resolveLayer } from '../model/decide';
import { chainOf, getDisk, getLayer, type Layer } from '../model/layer-graph';
import { reachCounts } from '../model/space';
import { type ReadRange } from '../port';
import { run } from '../qemu/process';
import * as qemuImg from '../qemu/qemu-img';
import { type EngineContext } from './engine-context';

/** Refuses (DISK.OUT_OF_RANGE) a range that is not whole bytes within the capacity. */
export function checkRange(
  layer: Pick<Layer, 'capacityBytes'>,
  offsetBytes: number,
  lengthBytes: number,
): void {
  const ok =
    Number.isSafeInteger(offsetBytes) &&
    Number.isSafeInteger(lengthBytes) &&
    offsetBytes >= 0 &&
    lengthBytes >= 0 &&
    offsetBytes + lengthBytes <= layer.capacityBytes;
  if (!ok) {
    throw new DiskEngineError(
      'DISK.OUT_OF_RANGE',
      `range ${offsetBytes}+${lengthBytes} is outside ${layer.capacityBytes} bytes`,
      {
        offsetBytes,
        lengthBytes,
        capacityBytes: layer.capacityBytes,
      },
    );
  }
}

export async function read(ctx: EngineContext, range: ReadRange): Promise<Buffer> {
  ctx.runner.refreshAll();
  const layer = resolveLayer(ctx.runner.graph, range.target);
  checkRange(layer, range.offsetBytes, range.lengthBytes);
  return ctx.exports.withExport(range.target, false, (c) =>
    c.read(range.offsetBytes, range.lengthBytes),
  );
}

export async function write(
  ctx: EngineContext,
  command: { diskId: string; offsetBytes: number; data: Uint8Array },
): Promise<void> {
  ctx.runner.refreshAll();
  const graph = ctx.runner.graph;
  const layer = getLayer(graph, getDisk(graph, command.diskId).topLayerId);
  if (layer.frozen) {
    throw new DiskEngineError(
      'DISK.LAYER_FROZEN',
      `disk ${command.diskId} stands on a frozen top`,
      { layerId: layer.layerId },
    );
  }
  checkRange(layer, command.offsetBytes, command.data.length);
  await ctx.exports.withExport({ diskId: command.diskId }, true, (c) =>
    c.write(command.offsetBytes, command.data),
  );
}

export async function blockMap(
  ctx: EngineContext,
  query: {
    target: LayerRef;
    offsetBytes?: number;
    lengthBytes?: number;
  },
): Promise<BlockMap> {
  ctx.runner.refreshAll();
  const graph = ctx.runner.graph;
  const layer = resolveLayer(graph, query.target);
  const offset = query.offsetBytes ?? 0;
  const length = query.lengthBytes ?? layer.capacityBytes - offset;
  checkRange(layer, offset, length);
  const chain = chainOf(graph, layer.layerId);
  const exported = ctx.live.exportsOf(layer.layerId)[0];
  const raw =
    exported && ctx.live.isOpenWritable(layer.layerId)
      ? await nbdExtents(ctx, exported)
      : await qemuImg.map(ctx.pathOf(layer), 'qcow2', {
          forceShare: ctx.live.isOpen(layer.layerId),
        });
  const reach = reachCounts(graph, layer.datastoreId);
  return compactBlockMap(
    raw,
    chain.map((l) => l.layerId),
    layer.capacityBytes,
    (id) => (reach.get(id) ?? 0) >= 2,
    { offsetBytes: offset, lengthBytes: length },
  );
}

/** Live block status, straight from the daemon: base:allocation joined with qemu:allocation-depth. */
async function nbdExtents(ctx: EngineContext, exported: LiveExport) {
  // Over TLS libnbd takes the CA (and, for verify-peer, the client pair) from the server's folder.
  const uri =
    exported.endpoint.tls && ctx.config.tls
      ? `${exported.uri}${exported.uri.includes('?') ? '&' : '?'}tls-certificates=${ctx.config.tls.certDir}`
      : exported.uri;
  const mapOf = async (context: string) =>
    JSON.parse((await run('nbdinfo', [`--map=${context}`, '--json', uri])).stdout) as NbdMapEntry[];
  return extentsFromNbd(await mapOf('base:allocation'), await mapOf('qemu:allocation-depth'));
}
