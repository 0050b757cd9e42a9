/**
 * npm run bench:instant-clones: instant clones (forks of a running VM) and desktop pools through
 * the whole of Dolly (HTTP → event store → Kafka → worker → storage daemon → events → projector
 * → read model), against bare QEMU on the same files in the same run:
 *  1. fork latency: command sent → the clone reads, in the VM read model, as powered on, ready,
 *     with its disk and memory image exported over NBD (the POST answered with Prefer: wait, or
 *     polled past it), one fork at a time from one running parent; against the floor, the two
 *     overlays a fork needs (disk over the parent's frozen disk layer, memory image over its
 *     frozen memory image) made by hand: `qemu-img create -b` + fsync, both at once;
 *  2. clones per second with 1 and 2 workers: a pool told to make N spares at once (PATCH), and
 *     N forks sent 8 at a time through the API. A running parent lives in one worker's storage
 *     daemon, so every fork of it runs on that worker: the 2-worker runs use two parents (two
 *     pools), one per worker, each on a datastore only its worker serves. The floor: the same
 *     overlay pairs by hand, as many at a time as the workers run jobs (3 each);
 *  3. bytes per clone until it writes (allocated blocks of its disk overlay and memory overlay)
 *     with two golden images, 64 MiB and 1 GiB of data (and memory), against a bare overlay pair;
 *     then what one clone's first 1 MiB write adds;
 *  4. a pool of 200 on this machine: on demand, 10 spares; 50 users ask at once (distinct), each
 *     must get one desktop no one else has, and the spares come back; then 150 more users fill it
 *     to 200; then the pool is deleted (teardown time).
 * Each phase (and each throughput run) has workers, datastores and golden images of its own, so
 * none starts on a daemon holding another's clones, nor with streams another lengthened: a fork's
 * and a pool's decisions no longer replay their streams whole (the event store keeps the states
 * it folded and reads only what each stream gained since: `foldedStreams` in libs/event-store),
 * but a longer stream is still a larger state to evolve and to fold once per process, so phases
 * stay apart to stay comparable (see `streams` in the results). A phase's workers stop at its
 * end, their storage daemons (and the clones in them) with them: a fork made through the API
 * cannot be deleted (see `standaloneCloneDeletion`), and pools are deleted through the API.
 *
 * The phases, in the order they run (1, 3, 2, 4: phase 3 goes on with phase 1's worker), are one
 * file each in bench/instant-clones/, over what they share (`lab.ts`); `report.ts` prints them.
 *
 * BENCH_IC_FORKS (default 100) sequential forks; BENCH_IC_SIZE_FORKS (20) forks of the large
 * image; BENCH_IC_BURST (100) clones per parent in each throughput run; BENCH_IC_API_CONCURRENCY
 * (8) forks sent at once per parent; BENCH_IC_POOL_MAX (200), BENCH_IC_POOL_SPARES (10) and
 * BENCH_IC_RUSH_USERS (50) for the pool of phase 4.
 */
import { loadavg } from 'node:os';
import { measureBytesPerClone } from './instant-clones/bytes-per-clone';
import { measureForkLatency } from './instant-clones/fork-latency';
import { Lab } from './instant-clones/lab';
import { measurePoolAtScale } from './instant-clones/pool-at-scale';
import { reportInstantClones } from './instant-clones/report';
import { measureThroughput } from './instant-clones/throughput';
import { runBenchmark } from './timed-commands';

runBenchmark(async (stack, workers) => {
  const loadBefore = loadavg();
  const startedAt = performance.now();
  const lab = await Lab.open(stack, workers);
  const forkLatency = await measureForkLatency(lab);
  const { bytesPerClone, standaloneCloneDeletion } = await measureBytesPerClone(lab, forkLatency);
  const throughput = await measureThroughput(lab, forkLatency.device);
  const poolAtScale = await measurePoolAtScale(lab, forkLatency.device);
  reportInstantClones(lab, {
    loadBefore,
    startedAt,
    forkLatency,
    bytesPerClone,
    standaloneCloneDeletion,
    throughput,
    poolAtScale,
  });
});
