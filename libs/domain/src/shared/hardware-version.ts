import { ValidationError } from './errors';

/** A virtual hardware version as vSphere names it: `vmx-19`. Newer hosts run older versions. */
export type HardwareVersion = `vmx-${number}`;

const HARDWARE_VERSION = /^vmx-(\d{1,3})$/;

export function hardwareVersionNumber(version: string): number {
  const match = HARDWARE_VERSION.exec(version);
  if (!match) {
    throw new ValidationError(
      'HARDWARE_VERSION.MALFORMED',
      `'${version}' is not a hardware version like vmx-19`,
    );
  }
  return Number(match[1]);
}

export function hostCanRun(hostMaxVersion: string, vmVersion: string): boolean {
  return hardwareVersionNumber(vmVersion) <= hardwareVersionNumber(hostMaxVersion);
}
