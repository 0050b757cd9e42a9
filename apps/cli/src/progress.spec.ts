import { PassThrough } from 'node:stream';
import { barView, linesView } from './progress';
import { bytesProgress, cloneTasks, taskView } from './testing/api-fixtures';

const [queued, copying, succeeded] = cloneTasks({
  status: 'succeeded',
  progress: bytesProgress(100, 1024 ** 3, 1024 ** 3),
});

/** A stream that says it is a terminal, and keeps what is written to it. */
function fakeTerminal(): { stream: NodeJS.WritableStream; written: () => string } {
  const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 120 });
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  return { stream, written: () => text };
}

describe('the progress bar on a terminal', () => {
  it('draws percent, bytes done of total in binary units, and the phase', () => {
    const terminal = fakeTerminal();
    const view = barView(terminal.stream);

    view.update(queued);
    view.update(copying);
    view.stop();

    expect(terminal.written()).toContain('CloneVm [');
    expect(terminal.written()).toContain('] 50% | 512 MiB / 1 GiB | copy');
  });

  it('ends drawn as the task ended', () => {
    const terminal = fakeTerminal();
    const view = barView(terminal.stream);

    view.update(copying);
    view.stop(succeeded);

    expect(terminal.written()).toContain('] 100% | 1 GiB / 1 GiB | succeeded');
  });

  it('says a running task is being cancelled once that was asked', () => {
    const terminal = fakeTerminal();
    const view = barView(terminal.stream);

    view.update({ ...copying, cancelRequested: true });
    view.stop();

    expect(terminal.written()).toContain('| cancelling');
  });

  it('draws nothing when the stream is not a terminal', () => {
    const stream = new PassThrough();
    let written = '';
    stream.on('data', (chunk: Buffer) => (written += chunk.toString('utf8')));
    const view = barView(stream);

    view.update(copying);
    view.stop(succeeded);

    expect(written).toBe('');
  });
});

describe('progress as lines (no terminal)', () => {
  it('writes a line each time the task starts doing something else, not on every percent', () => {
    const stream = new PassThrough();
    let written = '';
    stream.on('data', (chunk: Buffer) => (written += chunk.toString('utf8')));
    const view = linesView(stream);
    const later = taskView({ ...copying, progress: { ...copying.progress, percent: 75 } });

    for (const task of [queued, copying, later]) view.update(task);

    expect(written.trimEnd().split('\n')).toEqual([
      `CloneVm ${queued.taskId}: queued 0%`,
      `CloneVm ${queued.taskId}: copy 50% (512 MiB / 1 GiB)`,
    ]);
  });
});
