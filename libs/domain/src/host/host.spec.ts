import { deciderSpecification } from '@dolly/testing/pure';
import type { HostRegistered } from './host.events';
import { hostDecider } from './host';

const registered: HostRegistered = {
  type: 'HostRegistered',
  data: {
    hostId: '0190f3a0-0000-7000-8000-0000000000a1',
    name: 'esx-01',
    cpuCores: 16,
    memoryBytes: 64 * 1024 ** 3,
    maxHardwareVersion: 'vmx-19',
    management: 'standalone',
  },
};

const spec = deciderSpecification(hostDecider);

describe('Host', () => {
  it('registers', () => {
    spec.given([]).when({ type: 'RegisterHost', data: registered.data }).then([registered]);
  });

  it('refuses a second registration', () => {
    spec
      .given([registered])
      .when({ type: 'RegisterHost', data: registered.data })
      .thenThrows('HOST.ALREADY_REGISTERED');
  });

  it('refuses a malformed hardware version', () => {
    spec
      .given([])
      .when({
        type: 'RegisterHost',
        data: { ...registered.data, maxHardwareVersion: 'nineteen' as 'vmx-19' },
      })
      .thenThrows('HARDWARE_VERSION.MALFORMED');
  });
});
