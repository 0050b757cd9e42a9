/**
 * A QMP client for one qemu-storage-daemon, after python/qemu/qmp: one connection, an explicit
 * state, an id on every request matched to its reply, every pending request failed when the
 * connection drops, and events fanned out to listeners by name.
 *
 *   idle --connect--> connecting --greeting + qmp_capabilities--> running
 *   running --disconnect() or socket closed--> disconnecting --> idle
 */
import { type Socket, createConnection } from 'node:net';
import {
  type QmpCommandName,
  type QmpCommands,
  type QmpEventName,
  type QmpEvents,
} from './qmp-commands';

export type QmpState = 'idle' | 'connecting' | 'running' | 'disconnecting';

/** QEMU refused a command. `errorClass` is stable (GenericError, DeviceNotFound...); `desc` is for humans. */
export class QmpCommandError extends Error {
  override readonly name = 'QmpCommandError';
  constructor(
    readonly errorClass: string,
    readonly desc: string,
    readonly command: string,
    readonly sent: unknown,
  ) {
    super(`${command}: ${errorClass}: ${desc}`);
  }
}

/** The connection went away with the request still unanswered; QEMU may or may not have run it. */
export class QmpDisconnectedError extends Error {
  override readonly name = 'QmpDisconnectedError';
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

export class QmpStateError extends Error {
  override readonly name = 'QmpStateError';
  constructor(
    readonly required: readonly QmpState[],
    readonly actual: QmpState,
  ) {
    super(`QMP connection is ${actual}, needs ${required.join(' or ')}`);
  }
}

export class QmpProtocolError extends Error {
  override readonly name = 'QmpProtocolError';
  constructor(
    message: string,
    readonly received: string,
  ) {
    super(message);
  }
}

interface Pending {
  command: string;
  sent: unknown;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

type Listener<E extends QmpEventName> = (data: QmpEvents[E], timestamp: number) => void;

interface ServerMessage {
  QMP?: unknown;
  id?: string;
  return?: unknown;
  error?: { class: string; desc: string };
  event?: string;
  data?: unknown;
  timestamp?: { seconds: number; microseconds: number };
}

export class QmpClient {
  private _state: QmpState = 'idle';
  private socket?: Socket;
  private buffer = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Map<string, Set<(data: unknown, timestamp: number) => void>>();
  private readonly disconnectListeners = new Set<(reason: Error) => void>();
  private greetingWaiter?: { resolve(): void; reject(error: Error): void };

  get state(): QmpState {
    return this._state;
  }

  async connect(socketPath: string): Promise<void> {
    this.require(['idle']);
    this._state = 'connecting';
    const socket = createConnection(socketPath);
    this.socket = socket;
    socket.setEncoding('utf8');
    const greeted = new Promise<void>(
      (resolve, reject) => (this.greetingWaiter = { resolve, reject }),
    );
    // A late event from an earlier socket must not tear down the current connection.
    const current = () => this.socket === socket;
    socket.on('data', (chunk: string) => current() && this.receive(chunk));
    socket.on('error', (error) => current() && this.drop(error));
    socket.on(
      'close',
      () => current() && this.drop(new QmpDisconnectedError('QMP connection closed')),
    );
    try {
      await greeted;
      await this.send('qmp_capabilities', {});
    } catch (error) {
      this.drop(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
    this._state = 'running';
  }

  execute<K extends QmpCommandName>(
    command: K,
    args: QmpCommands[K]['args'],
  ): Promise<QmpCommands[K]['ret']> {
    this.require(['running']);
    return this.send(command, args) as Promise<QmpCommands[K]['ret']>;
  }

  on<E extends QmpEventName>(event: E, listener: Listener<E>): () => void {
    const set = this.listeners.get(event) ?? new Set();
    this.listeners.set(event, set);
    const wrapped = listener as (data: unknown, timestamp: number) => void;
    set.add(wrapped);
    return () => set.delete(wrapped);
  }

  onDisconnect(listener: (reason: Error) => void): () => void {
    this.disconnectListeners.add(listener);
    return () => this.disconnectListeners.delete(listener);
  }

  async disconnect(): Promise<void> {
    if (this._state === 'idle') return;
    const socket = this.socket;
    this.drop(new QmpDisconnectedError('QMP connection closed by us'));
    await new Promise<void>((resolve) => {
      if (!socket || socket.destroyed) return resolve();
      socket.once('close', () => resolve());
      socket.destroy();
    });
  }

  private require(states: readonly QmpState[]): void {
    if (!states.includes(this._state)) throw new QmpStateError(states, this._state);
  }

  private send(command: string, args: unknown): Promise<unknown> {
    const socket = this.socket;
    if (!socket || socket.destroyed) {
      return Promise.reject(new QmpDisconnectedError('QMP socket is gone', command));
    }
    const id = `dolly-${this.nextId++}`;
    const message = { execute: command, arguments: args, id };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { command, sent: args, resolve, reject });
      socket.write(`${JSON.stringify(message)}\n`);
    });
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line) this.dispatch(line);
    }
  }

  private dispatch(line: string): void {
    let message: ServerMessage;
    try {
      message = JSON.parse(line) as ServerMessage;
    } catch {
      this.drop(new QmpProtocolError('QMP sent something that is not JSON', line));
      return;
    }
    if (message.QMP !== undefined) {
      this.greetingWaiter?.resolve();
      this.greetingWaiter = undefined;
    } else if (message.event !== undefined) {
      const ts = message.timestamp
        ? message.timestamp.seconds * 1000 + message.timestamp.microseconds / 1000
        : 0;
      for (const listener of this.listeners.get(message.event) ?? []) listener(message.data, ts);
    } else if (message.id !== undefined && this.pending.has(message.id)) {
      const pending = this.pending.get(message.id)!;
      this.pending.delete(message.id);
      if (message.error) {
        pending.reject(
          new QmpCommandError(
            message.error.class,
            message.error.desc,
            pending.command,
            pending.sent,
          ),
        );
      } else {
        pending.resolve(message.return);
      }
    } else {
      this.drop(new QmpProtocolError('QMP reply matches no request', line));
    }
  }

  private drop(reason: Error): void {
    if (this._state === 'idle' && !this.socket) return;
    this._state = 'disconnecting';
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
    this.greetingWaiter?.reject(reason);
    this.greetingWaiter = undefined;
    const failure =
      reason instanceof QmpDisconnectedError ? reason : new QmpDisconnectedError(reason.message);
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      pending.reject(
        new QmpDisconnectedError(
          `${failure.message} before ${pending.command} was answered`,
          pending.command,
        ),
      );
    }
    this.buffer = '';
    this._state = 'idle';
    for (const listener of this.disconnectListeners) listener(failure);
  }
}
