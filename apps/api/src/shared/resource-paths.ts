/** Where the API serves each kind of object: used for Location headers and links. */
const COLLECTIONS: Record<string, string> = {
  vm: 'vms',
  host: 'hosts',
  datastore: 'datastores',
  task: 'tasks',
  worker: 'workers',
  pool: 'pools',
};

export function resourcePath(type: string, id: string): string {
  return `/${COLLECTIONS[type] ?? type}/${id}`;
}

export function taskPath(taskId: string): string {
  return `/tasks/${taskId}`;
}
