/**
 * Phase 4, a pool at scale: on demand, with spares; users ask at once (distinct), each must get
 * one desktop no one else has, and the spares come back; more users fill it to its maximum; a new
 * image is pushed and rolled through every desktop as users log off and come back; then the pool
 * is deleted. A failure is recorded in the result (`error`), and the benchmark goes on to report.
 */
import { type Accepted } from '../../test/support/inventory';
import { type Desktop } from '../../test/support/pools';
import { underLoad } from '../host-load';
import { round } from '../support';
import { lanes, latency, loadSummary, log, now } from '../timed-commands';
import { type Lab, succeededTasks } from './lab';
import { type Entitled, type PoolAtScale, audit, byFifth, forked, toDesktopMs } from './measures';
import { POOL_MAX, POOL_SPARES, RUSH_USERS } from './settings';

export async function measurePoolAtScale(lab: Lab, device: string | null): Promise<PoolAtScale> {
  const { bench } = lab;
  log(`phase 4: pool of ${POOL_MAX} (${POOL_SPARES} spares), ${RUSH_USERS} users at once`);
  const scale: PoolAtScale = { maxMachines: POOL_MAX, spareMachines: POOL_SPARES };
  try {
    const last = await lab.site('w4');
    const deskGolden = await lab.goldenOf('small', last.datastore, 'desk');
    const big = await lab.createPool(deskGolden, lab.poolSettings('desk', POOL_MAX, POOL_SPARES));
    scale.imageBuiltMs = big.imageBuiltMs;
    const sparesFirst = await lab.watchPool(big.poolId, (p) => p.counts.spares === POOL_SPARES);
    scale.sparesReadyAfterCreateMs = round(sparesFirst.doneAt - big.sentAt);
    const entitleUser = async (userId: string): Promise<Entitled> => {
      const sentAt = now();
      const answer = await bench.send<Accepted & { result?: Desktop }>(
        'POST',
        `/pools/${big.poolId}/entitlements`,
        { userId },
        {},
      );
      return {
        userId,
        status: answer.status,
        code: answer.body.code ?? null,
        desktop: answer.body.result ?? null,
        sentAt,
        answerMs: now() - sentAt,
      };
    };
    const lastAnswer = (entitled: Entitled[]) =>
      Math.max(...entitled.map((e) => e.sentAt + e.answerMs));
    // Entitlements on one pool are decided one after the other: the time between consecutive
    // answers is about one decision's, and shows whether it grows with the pool.
    const answerGaps = (entitled: Entitled[]) => {
      const at = entitled.map((e) => e.sentAt + e.answerMs).sort((a, b) => a - b);
      return byFifth(at.slice(1).map((t, i) => t - at[i]));
    };

    // 50 users at once.
    const rushUsers = Array.from({ length: RUSH_USERS }, (_, i) => `user-${i}@bench`);
    const rush = await underLoad(device, async () => {
      const started = now();
      const entitled = await Promise.all(rushUsers.map(entitleUser));
      const settled = await lab.watchPool(
        big.poolId,
        (p) =>
          p.counts.provisioning === 0 &&
          rushUsers.every((u) => p.machines.some((m) => m.userId === u && m.status === 'ready')) &&
          p.counts.spares === POOL_SPARES,
      );
      return { started, entitled, settled };
    });
    const { entitled, settled } = rush.result;
    const running = await Promise.all(
      entitled.flatMap((e) => (e.desktop ? [bench.vm(e.desktop.vmId)] : [])),
    );
    scale.rush = {
      users: RUSH_USERS,
      ...audit(settled.pool!, entitled),
      answerMs: latency(entitled.map((e) => e.answerMs)),
      allAnsweredMs: round(lastAnswer(entitled) - rush.result.started),
      answerGapMsByFifth: answerGaps(entitled),
      userToRunningDesktopMs: latency(toDesktopMs(entitled, settled.readyAt)),
      allDesktopsReadyAndSparesBackMs: round(settled.doneAt - rush.result.started),
      timedOut: settled.timedOut,
      desktopsRunningWithExports: running.filter(forked).length,
      countsAfter: settled.pool?.counts,
      sparesKeptAt: settled.pool?.counts.spares,
      load: loadSummary(rush.load),
    };

    // The rest of the users, as many at once, until the pool holds its maximum.
    const fillUsers = Array.from(
      { length: Math.max(0, POOL_MAX - RUSH_USERS) },
      (_, i) => `user-${RUSH_USERS + i}@bench`,
    );
    const machinesBefore = settled.pool!.counts.machines;
    log(`phase 4: ${fillUsers.length} more users, ${RUSH_USERS} at a time, to fill the pool`);
    const fillRun = await underLoad(device, async () => {
      const started = now();
      const answers = await lanes(RUSH_USERS, fillUsers.length, (k) => entitleUser(fillUsers[k]));
      const full = await lab.watchPool(
        big.poolId,
        (p) =>
          p.counts.machines === POOL_MAX &&
          p.counts.provisioning === 0 &&
          p.machines.every((m) => m.status === 'ready'),
      );
      return { started, answers: answers.results, full };
    });
    const { full, answers } = fillRun.result;
    const fillMs = full.doneAt - fillRun.result.started;
    const forkedDuringFill = (full.pool?.counts.machines ?? 0) - machinesBefore;
    scale.fill = {
      users: fillUsers.length,
      machinesBefore,
      machinesAfter: full.pool?.counts.machines,
      forked: forkedDuringFill,
      wallMs: round(fillMs),
      clonesPerSecond: round(forkedDuringFill / (fillMs / 1000), 2),
      allAnsweredMs: round(lastAnswer(answers) - fillRun.result.started),
      answerGapMsByFifth: answerGaps(answers),
      answerMs: latency(answers.map((e) => e.answerMs)),
      userToRunningDesktopMs: latency(toDesktopMs(answers, full.readyAt)),
      timedOut: full.timedOut,
      countsAfter: full.pool?.counts,
      load: loadSummary(fillRun.load),
    };
    const everyone = [...entitled, ...answers];
    scale.allUsers = { users: everyone.length, ...audit(full.pool!, everyone) };
    const poolTasks = await lab.forkTasks(big.poolId);
    const ok = succeededTasks(poolTasks);
    scale.forkTasks = {
      total: poolTasks.length,
      failed: poolTasks.filter((t) => t.failed).length,
      taskQueuedToSucceededMs: latency(ok.map((t) => t.succeeded - t.queued)),
      taskWorkMs: latency(ok.map((t) => t.succeeded - t.started)),
      // In the order queued: whether a fork costs more as the pool and its streams grow.
      taskWorkMsByFifth: byFifth(ok.map((t) => t.succeeded - t.started)),
    };
    scale.streams = {
      poolEvents: await lab.streamLength('pool', big.poolId),
      parentEvents: await lab.streamLength('vm', big.pool.image.parents[0].parentVmId),
      replicaEvents: await lab.streamLength('vm', big.pool.image.replicas[0].replicaVmId),
      datastoreEvents: await lab.streamLength('datastore', last.datastore.datastoreId),
      hostEvents: await lab.streamLength('host', lab.hostId),
    };

    // Push image through all of them: a new golden snapshot; each user logs off (their floating
    // desktop goes) and asks again, getting one forked from the new image.
    log(`phase 4: push image, rolled through ${everyone.length} desktops as users log off`);
    const v2 = (await bench.command('POST', `/vms/${deskGolden.vmId}/snapshots`, { name: 'v2' }))
      .vm!.currentSnapshotId!;
    const pushRun = await underLoad(device, async () => {
      const started = now();
      const pushed = await bench.send('POST', `/pools/${big.poolId}/image`, {
        goldenVmId: deskGolden.vmId,
        snapshotId: v2,
      });
      if (![200, 202].includes(pushed.status))
        throw new Error(`push image: HTTP ${pushed.status} ${JSON.stringify(pushed.body)}`);
      const built = await lab.watchPool(
        big.poolId,
        (p) => p.image.snapshotId === v2 && p.push === null,
      );
      const imageBuiltAt = built.doneAt;
      const current = built.pool!;
      const logoffMs: number[] = [];
      const logoffCodes: string[] = [];
      const back = await lanes(RUSH_USERS, everyone.length, async (k) => {
        const userId = everyone[k].userId;
        const desktop = current.machines.find((m) => m.userId === userId);
        if (desktop) {
          const sentAt = now();
          const off = await bench.send(
            'POST',
            `/pools/${big.poolId}/machines/${desktop.vmId}/logoff`,
            undefined,
            {},
          );
          logoffMs.push(now() - sentAt);
          if (off.body.code) logoffCodes.push(off.body.code);
        }
        return entitleUser(userId);
      });
      const rolled = await lab.watchPool(
        big.poolId,
        (p) =>
          p.counts.outdated === 0 &&
          p.counts.machines === POOL_MAX &&
          p.counts.provisioning === 0 &&
          p.machines.every((m) => m.status === 'ready'),
      );
      return { started, imageBuiltAt, back: back.results, rolled, logoffMs, logoffCodes };
    });
    const { rolled } = pushRun.result;
    const rolledMs = rolled.doneAt - pushRun.result.imageBuiltAt;
    scale.push = {
      ...audit(rolled.pool!, pushRun.result.back),
      imageBuiltMs: round(pushRun.result.imageBuiltAt - pushRun.result.started),
      users: everyone.length,
      rolledThroughMs: round(rolledMs),
      desktopsPerSecond: round(everyone.length / (rolledMs / 1000), 2),
      logoffAnswerMs: latency(pushRun.result.logoffMs),
      logoffRefusals: [...new Set(pushRun.result.logoffCodes)],
      timedOut: rolled.timedOut,
      countsAfter: rolled.pool?.counts,
      load: loadSummary(pushRun.load),
    };

    log(`phase 4: deleting the pool of ${full.pool?.counts.machines} machines`);
    scale.teardown = await lab.deletePool(big.poolId);
  } catch (error) {
    scale.error = (error as Error).message;
    log(`phase 4 failed: ${(error as Error).message}`);
  }
  return scale;
}
