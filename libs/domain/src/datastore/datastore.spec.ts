import { deciderSpecification } from '@dolly/testing';
import type { DatastoreRegistered } from './datastore.events';
import { datastoreDecider } from './datastore';

const registered: DatastoreRegistered = {
  type: 'DatastoreRegistered',
  data: {
    datastoreId: '0190f3a0-0000-7000-8000-0000000000d1',
    name: 'ds-01',
    capacityBytes: 1024 ** 4,
    folder: '/srv/ds-01',
    overcommitRatio: 1.5,
  },
};

const spec = deciderSpecification(datastoreDecider);

describe('Datastore', () => {
  it('registers', () => {
    spec.given([]).when({ type: 'RegisterDatastore', data: registered.data }).then([registered]);
  });

  it('refuses a second registration', () => {
    spec
      .given([registered])
      .when({ type: 'RegisterDatastore', data: registered.data })
      .thenThrows('DATASTORE.ALREADY_REGISTERED');
  });
});
