import { datastoreEvents, inventory } from './inventory-fixtures';
import { stream, workflowSpecification } from './workflow-specification';

const { datastoreId } = inventory;
const taskId = '0190f3a0-0000-7000-8000-000000000e01';
const spec = workflowSpecification();
const reserve = { diskId: 'd1', physicalBytes: 1, provisionedBytes: 1 };
const reserved = {
  type: 'DatastoreSpaceReserved',
  data: { datastoreId, taskId, claims: [reserve] },
};
const given = spec.given(stream('datastore', datastoreId, datastoreEvents));
const step = given.when((ws) => {
  ws.decideDatastore({ type: 'ReserveSpace', data: { datastoreId, taskId, claims: [reserve] } });
  return 'done';
});

describe('workflow specification', () => {
  it('passes on the events each stream got, and returns what the step returned', () => {
    expect(step.then(stream('datastore', datastoreId, [reserved]))).toBe('done');
  });

  it('fails on other events, a stream written that was not named, or one named not written', () => {
    const other = { ...reserved, data: { ...reserved.data, taskId: 'other' } };
    expect(() => step.then(stream('datastore', datastoreId, [other]))).toThrow(
      /Stream datastore:.*expected events/s,
    );
    expect(() => step.thenNothingHappened()).toThrow(/Stream datastore:/);
    expect(() =>
      step.then(stream('datastore', datastoreId, [reserved]), stream('task', taskId, [])),
    ).not.toThrow();
    expect(() =>
      step.then(stream('datastore', datastoreId, [reserved]), stream('task', taskId, [reserved])),
    ).toThrow(/Stream task:/);
  });

  it('reads a stream not given as empty, as the store does', () => {
    expect(
      spec
        .given()
        .when((ws) => ws.datastore(datastoreId).status)
        .thenNothingHappened(),
    ).toBe('unregistered');
  });

  it('passes on the DomainError named, fails on any other outcome', () => {
    spec
      .given()
      .when((ws) =>
        ws.decideDatastore({ type: 'ReserveSpace', data: { datastoreId, taskId, claims: [] } }),
      )
      .thenThrows('DATASTORE.NOT_FOUND');
    expect(() => step.thenThrows('DATASTORE.NOT_FOUND')).toThrow(/was accepted/);
  });
});
