/**
 * The flags every Dolly service's node (api, projector, worker) runs with, wherever it starts:
 * `npm start`, the test and benchmark stacks, and the Dockerfile and docker-compose.yml, which
 * repeat them (a spec checks that they do).
 *
 * --initial-old-space-size: V8 sets a small heap's old-generation limit close above what it holds
 * (a service keeps 30 to 40 MB), and a service moving a package's bytes allocates many MB of
 * short-lived buffers a second: it reached the limit every few dozen milliseconds and marked the
 * whole heap each time (some 50 major collections in a 1 GiB import, a quarter of the worker's
 * time, and as many in the API passing the bytes on). With 96 MB of room they are a handful.
 *
 * --max-semi-space-size: the young generation V8 grows to (16 MB semi-spaces by default) is
 * resident memory a service holds at rest, and between two scavenges the buffers a transfer
 * dropped stay allocated: with 4 MB the API and projector held some 30 MB less at rest, and the
 * worker's peak during a 1 GiB import fell from 270-290 MB to 240-255 MB, at no cost in time.
 *
 * --expose-gc: a service moving a package's bytes collects its young generation every 16 MiB
 * (transientBytesPassed in @dolly/ovf says why); nothing else calls it.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = [
  '--initial-old-space-size=96',
  '--max-semi-space-size=4',
  '--expose-gc',
];
