import type { Redis } from 'ioredis'
import { RedisError } from '../errors.ts'
import { connect, isCluster, type Client, type RedisSource } from './client.ts'
import { Deadlines, type Pending } from './deadlines.ts'

/**
 * memoredis's own connection to Redis, over ioredis, and what every command goes through
 * ({@link RedisConnection.run}): refused at once while the circuit is open or the
 * connection is not ready, failed after `timeoutMs` by one shared deadline timer
 * (`deadlines.ts`), counted, and, on a single node, batched into few socket writes. The
 * connection is memoredis's own (a template client is duplicated, never used), with the
 * offline queue off, so that a write can never be replayed late after a reconnect. The
 * commands of the Redis path are `tier.ts`.
 */

/** What the tier tells its owner. */
export interface RedisTierEvents {
  error(error: RedisError): void
  circuit(state: 'open' | 'close'): void
  /** The connection is up; a returned promise is part of a new cache's start (see `whenStarted`). */
  ready(): Promise<void> | void
  close(): void
}

export interface RedisTierOptions {
  timeoutMs: number
  connectWaitMs: number
  circuitFailures: number
  circuitResetAfterMs: number
  events: RedisTierEvents
}

/** A code names an error kind only when it looks like one (`ECONNREFUSED`, `ERR_REDIS_TIMEOUT`): bounded, never a message. */
const ERROR_CODE = /^[A-Z][A-Z0-9_]{1,39}$/

/**
 * What a failure is counted under: the code of a system or ioredis error behind it
 * (`ECONNREFUSED`, `ECONNRESET`), else the `RedisError`'s own (`ERR_REDIS_TIMEOUT`,
 * `ERR_CIRCUIT_OPEN`, `ERR_REDIS`).
 */
export function errorCodeOf(error: RedisError): string {
  const cause = error.cause as { code?: unknown } | undefined
  const code = typeof cause === 'object' && cause !== null ? cause.code : undefined
  return typeof code === 'string' && ERROR_CODE.test(code) ? code : error.code
}

/** What the tier counts, for `stats()`: bytes of values each way, and failures by code. */
export interface RedisCounts {
  /** Bytes of stored values received (GET replies, the value a read-or-lock returns). */
  bytesRead: number
  /** Bytes of values Redis took (fills, writes without the lock, `set`). */
  bytesWritten: number
  /** Failed or refused commands and connection errors, by {@link errorCodeOf}. */
  errors: Record<string, number>
}

/** Told of each command's round trip, in seconds (installed by `memoredis/otel`; absent, nothing is measured). */
export type RoundTripObserver = (command: string, seconds: number) => void

/** Commands per socket write when many are sent in one tick (see `batchWrites`). */
const FLUSH_EVERY = 8

export class RedisConnection {
  readonly client: Client
  protected readonly options: RedisTierOptions
  private readonly deadlines = new Deadlines()
  private failures = 0
  private openedAt = 0
  protected state: 'closed' | 'open' | 'probing' = 'closed'
  private firstReady: Promise<void> | undefined
  protected closed = false
  /** A Cluster: commands go over one socket per node, and are not batched here. */
  protected readonly cluster: boolean
  /** A command was sent in this tick (see `batchWrites`). */
  private sentThisTick = false
  /** The socket corked until the next tick (see `batchWrites`). */
  private corked: Redis['stream'] | undefined
  /** Commands written to the corked socket since its last write. */
  private corkedCommands = 0
  /** Bytes and failures so far (see {@link RedisCounts}). */
  readonly counts: RedisCounts = { bytesRead: 0, bytesWritten: 0, errors: {} }
  /** Told of each answered command's round trip; undefined (the default) costs one check per command. */
  onRoundTrip: RoundTripObserver | undefined
  /** Counts the bytes of a value read (bound once: nothing is allocated per read). */
  protected readonly countRead = (value: Buffer | null): void => {
    if (value !== null) this.counts.bytesRead += value.length
  }

  constructor(source: RedisSource, options: RedisTierOptions) {
    this.options = options
    this.client = connect(source)
    this.cluster = isCluster(this.client)
    this.client.on('error', (error: Error) => {
      if (this.closed) return
      const wrapped = new RedisError(`redis: ${error.message}`, { cause: error })
      this.countError(wrapped)
      options.events.error(wrapped)
    })
    let started: ((settingUp: Promise<void> | void) => void) | undefined
    this.client.on('ready', () => {
      // A fresh connection is the best probe there is.
      if (this.state !== 'closed') this.closeCircuit()
      this.failures = 0
      const settingUp = options.events.ready()
      started?.(settingUp)
      started = undefined
    })
    this.client.on('close', () => {
      if (!this.closed) options.events.close()
    })
    // Started: the first connection is up and its set-up (the clock) done, or connectWait passed.
    this.firstReady = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, options.connectWaitMs)
      timer.unref()
      started = (settingUp) => {
        const done = (): void => {
          clearTimeout(timer)
          resolve()
        }
        if (settingUp === undefined) done()
        else settingUp.then(done, done)
      }
    }).then(() => {
      this.firstReady = undefined
    })
  }

  /**
   * True while optional commands are worth sending: connected, the circuit closed, and
   * the last command did not fail. After one failure (a timeout, most likely a paused or
   * overloaded server) a call stops at the first Redis command that failed instead of
   * paying the timeout again for the lock, the write and tag stamps; the next read is
   * still sent and, when it succeeds, makes the tier available again.
   */
  get available(): boolean {
    return this.client.status === 'ready' && this.state === 'closed' && this.failures === 0
  }

  /** The circuit's state: `'open'` while no command is sent, `'probing'` while one decides. */
  get circuit(): 'closed' | 'open' | 'probing' {
    return this.state
  }

  /**
   * Resolves once the first connection is up and set up (the owner's `ready` work, e.g.
   * measuring the server's clock), or `connectWait` has passed: a cache created a moment
   * ago shares its first values instead of skipping Redis, and stamps them on a measured clock.
   */
  whenStarted(): Promise<void> | undefined {
    return this.firstReady
  }

  /**
   * Runs one command under the shared deadline timer (`deadlines.ts`) and the circuit breaker; `received`,
   * if given, sees its reply first (counting the bytes of a value read).
   */
  run<T>(name: string, command: (client: Client) => Promise<T>, received?: (value: T) => void): Promise<T> {
    const refused = this.refusal(name)
    if (refused !== undefined) return Promise.reject(refused)
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = {
        done: false,
        deadline: performance.now() + this.options.timeoutMs,
        expire: () =>
          reject(this.failed(new RedisError(`redis: ${name} timed out after ${this.options.timeoutMs}ms`, { code: 'ERR_REDIS_TIMEOUT' }))),
        older: undefined,
        newer: undefined,
      }
      this.deadlines.add(pending)
      this.batchWrites()
      command(this.client).then(
        (value) => {
          // A late answer (after the timeout) still says that Redis answers again.
          this.succeeded()
          if (!this.deadlines.settle(pending)) return
          // The deadline is the start plus the timeout: the start costs no second clock read.
          if (this.onRoundTrip !== undefined) this.roundTrip(name, pending.deadline)
          received?.(value)
          resolve(value)
        },
        (error: unknown) => {
          if (!this.deadlines.settle(pending)) return // counted once, as the timeout
          const message = error instanceof Error ? error.message : String(error)
          reject(this.failed(new RedisError(`redis: ${name} failed: ${message}`, { cause: error })))
        },
      )
    })
  }

  /**
   * Commands sent in one tick share socket writes: the first is written at once (a lone
   * call waits for nothing), and from the second the socket is corked until the next
   * tick (a write syscall costs more than a small command), with a write every
   * {@link FLUSH_EVERY} commands so that Redis starts on the first ones while this
   * process still prepares the rest (a cold miss of 50 concurrent keys: about 1.45x the
   * floor, against 1.75x with one write per tick; see bench/engine.ts). Called before
   * each command is written. A single node only: a Cluster spreads commands over one
   * socket per node.
   */
  private batchWrites(): void {
    const corked = this.corked
    if (corked !== undefined) {
      if (this.corkedCommands === FLUSH_EVERY) {
        corked.uncork()
        corked.cork()
        this.corkedCommands = 0
      }
      this.corkedCommands++
      return
    }
    if (this.cluster) return
    if (!this.sentThisTick) {
      this.sentThisTick = true
      process.nextTick(this.endTick)
      return
    }
    const stream = (this.client as Redis).stream as Redis['stream'] | undefined
    if (stream === undefined || stream.writableCorked > 0) return
    stream.cork()
    this.corked = stream
    this.corkedCommands = 1
  }

  /** The tick's commands are all sent: those still corked leave. */
  private readonly endTick = (): void => {
    this.sentThisTick = false
    const corked = this.corked
    this.corked = undefined
    corked?.uncork()
  }

  private roundTrip(name: string, deadline: number): void {
    const seconds = (performance.now() - (deadline - this.options.timeoutMs)) / 1000
    try {
      this.onRoundTrip?.(name, seconds)
    } catch {
      // An observer's failure never fails the command it measured.
    }
  }

  protected countError(error: RedisError): void {
    const code = errorCodeOf(error)
    this.counts.errors[code] = (this.counts.errors[code] ?? 0) + 1
  }

  /** Why a command may not be sent now (closed, circuit open, not connected), or undefined. */
  private refusal(name: string): RedisError | undefined {
    if (this.closed) return new RedisError('redis: the cache is closed')
    if (this.state !== 'closed') {
      if (this.state === 'probing' || Date.now() - this.openedAt < this.options.circuitResetAfterMs) {
        const error = new RedisError(`redis: circuit open, ${name} not sent`, { code: 'ERR_CIRCUIT_OPEN' })
        this.countError(error)
        return error
      }
      this.state = 'probing'
    }
    if (this.client.status !== 'ready') return this.failed(new RedisError(`redis: not connected (${this.client.status}), ${name} not sent`))
    return undefined
  }

  private succeeded(): void {
    this.failures = 0
    if (this.state !== 'closed') this.closeCircuit()
  }

  private failed(error: RedisError): RedisError {
    this.countError(error)
    this.failures++
    if (this.state === 'probing' || (this.state === 'closed' && this.failures >= this.options.circuitFailures)) {
      const wasClosed = this.state === 'closed'
      this.state = 'open'
      this.openedAt = Date.now()
      if (wasClosed) this.options.events.circuit('open')
    }
    return error
  }

  private closeCircuit(): void {
    this.state = 'closed'
    this.failures = 0
    this.options.events.circuit('close')
  }

  /** Closes the connection: QUIT, but no longer than the command timeout (a paused server never answers). */
  async close(): Promise<void> {
    this.closed = true
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      this.client.quit().catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, this.options.timeoutMs))),
    ])
    clearTimeout(timer)
    this.deadlines.expireAll()
    this.client.disconnect()
  }
}
