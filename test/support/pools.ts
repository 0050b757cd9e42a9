/** A pool's image chain, as GET /pools/{id} shows it. */
export type PoolImage = {
  snapshotId: string;
  templateVmId: string;
  replicas: { datastoreId: string; replicaVmId: string }[];
  parents: { hostId: string; datastoreId: string; parentVmId: string }[];
  taskId: string;
};

/** A pool as GET /pools/{id} shows it (the fields tests and benchmarks read). */
export type Pool = {
  poolId: string;
  /** The pool stream's version the row shows. */
  version: number;
  image: PoolImage;
  imageStatus: string;
  push: { image: PoolImage } | null;
  scheduledPush: { snapshotId: string; startAt: string } | null;
  previousImage: PoolImage | null;
  lifecycle: string;
  machines: {
    vmId: string;
    name: string;
    status: string;
    userId: string | null;
    parentVmId: string;
    outdated: boolean;
  }[];
  counts: {
    machines: number;
    assigned: number;
    spares: number;
    provisioning: number;
    outdated: number;
  };
};

/** The desktop an entitlement hands out (the answer's result). */
export type Desktop = { vmId: string; name: string; status: string; taskId: string | null };
