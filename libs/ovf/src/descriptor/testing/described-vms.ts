import type { DescribedVm } from '../../model';

/** A plain VM for the descriptor specs that start from a valid descriptor: two disks, two NICs. */
export const WEB_VM: DescribedVm = {
  name: 'web',
  hardwareVersion: 'vmx-13',
  guestOs: 'ubuntu64Guest',
  vcpus: 2,
  memoryBytes: 2 * 1024 ** 3,
  disks: [
    {
      diskId: 'vmdisk1',
      label: 'Hard disk 1',
      capacityBytes: 10 * 1024 ** 3,
      fileName: 'web-disk1.vmdk',
      fileSizeBytes: 1000,
    },
    {
      diskId: 'vmdisk2',
      label: 'Hard disk 2',
      capacityBytes: 1024 ** 3,
      fileName: 'web-disk2.vmdk',
      fileSizeBytes: 10,
    },
  ],
  nics: [
    { network: 'VM Network', macAddress: '00:50:56:00:00:01' },
    { network: 'Backend', macAddress: '00:50:56:00:00:02', adapterType: 'VmxNet3' },
  ],
};

/** The same VM with its first disk and NIC only. */
export const WEB_VM_ONE_DISK: DescribedVm = {
  ...WEB_VM,
  disks: WEB_VM.disks.slice(0, 1),
  nics: WEB_VM.nics.slice(0, 1),
};
