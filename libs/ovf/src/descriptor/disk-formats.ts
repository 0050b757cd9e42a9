import type { DiskImageFormat } from '../model';

/**
 * DiskSection ovf:format URIs that real tools write, by what they name. URIs are compared without
 * their scheme and case, since the same URI is found with http and https and varying case.
 *
 * - vSphere's ovftool and VirtualBox: vmdk.html#streamOptimized; older VMware Converter and OVF
 *   0.9 packages: vmdk.html#compressed (the same variant) and vmdk.html#sparse (monolithicSparse).
 * - Abiquo and other catalogs: vmdk_access.html#streamOptimized / #monolithic_sparse /
 *   #monolithic_flat, qcow-image-format.html#monolithic_sparse, http://raw.
 * - oVirt / RHV: qcow-image-format.html for COW volumes; raw volumes carry vmdk.html#sparse with
 *   ovf:volume-format="RAW", which the reader honours first.
 */
const FORMAT_BY_URI: Record<string, DiskImageFormat> = {
  'www.vmware.com/interfaces/specifications/vmdk.html#streamoptimized': 'vmdk-streamOptimized',
  'www.vmware.com/specifications/vmdk.html#streamoptimized': 'vmdk-streamOptimized',
  'www.vmware.com/specifications/vmdk.html#compressed': 'vmdk-streamOptimized',
  'www.vmware.com/interfaces/specifications/vmdk.html#compressed': 'vmdk-streamOptimized',
  'www.vmware.com/technical-resources/interfaces/vmdk_access.html#streamoptimized':
    'vmdk-streamOptimized',
  'www.vmware.com/interfaces/specifications/vmdk.html#sparse': 'vmdk-monolithicSparse',
  'www.vmware.com/specifications/vmdk.html#sparse': 'vmdk-monolithicSparse',
  'www.vmware.com/interfaces/specifications/vmdk.html#monolithicsparse': 'vmdk-monolithicSparse',
  'www.vmware.com/technical-resources/interfaces/vmdk_access.html#monolithic_sparse':
    'vmdk-monolithicSparse',
  'www.vmware.com/interfaces/specifications/vmdk.html#monolithicflat': 'vmdk-monolithicFlat',
  'www.vmware.com/specifications/vmdk.html#monolithicflat': 'vmdk-monolithicFlat',
  'www.vmware.com/interfaces/specifications/vmdk.html#flat': 'vmdk-monolithicFlat',
  'www.vmware.com/technical-resources/interfaces/vmdk_access.html#monolithic_flat':
    'vmdk-monolithicFlat',
  'www.gnome.org/~markmc/qcow-image-format.html': 'qcow2',
  'people.gnome.org/~markmc/qcow-image-format.html': 'qcow2',
  'people.gnome.org/~markmc/qcow-image-format.html#monolithic_sparse': 'qcow2',
  'people.gnome.org/~markmc/qcow-image-format.html#monolithic_flat': 'qcow2',
  raw: 'raw',
};

/** The format the URI names, or null when Dolly does not know it. */
export function diskFormatOfUri(uri: string): DiskImageFormat | null {
  const key = uri
    .trim()
    .toLowerCase()
    .replace(/^https?:\/\//, '');
  return Object.hasOwn(FORMAT_BY_URI, key) ? FORMAT_BY_URI[key] : null;
}

/** oVirt's ovf:volume-format says what the bytes are whatever the URI claims. */
export function diskFormatOfOvirtVolume(volumeFormat: string): DiskImageFormat | null {
  switch (volumeFormat.trim().toUpperCase()) {
    case 'RAW':
      return 'raw';
    case 'COW':
      return 'qcow2';
    default:
      return null;
  }
}

/** What the writer declares: the variant Dolly's export produces. */
export const STREAM_OPTIMIZED_URI =
  'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized';
