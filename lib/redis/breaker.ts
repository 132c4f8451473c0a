import { RedisError } from '../errors.ts'
import { Deadlines, type Pending } from './deadlines.ts'

/**
 * What every command memoredis sends goes through, whatever the client behind it
 * ({@link CommandRunner.run}): refused at once while the circuit is open or the connection
 * is not ready, failed after `timeoutMs` by one shared deadline timer (`deadlines.ts`),
 * counted, and its round trip told to an observer. The first connection's start
 * (`whenStarted`) is kept here too. A connection over one client extends it: ioredis
 * (`connection.ts`), node-redis (`node-redis/connection.ts`).
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
 * What a failure is counted under: the code of a system or client error behind it
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

export abstract class CommandRunner<C> {
  /** The command connection: memoredis's own, never the app's. */
  abstract readonly client: C
  protected readonly options: RedisTierOptions
  private readonly deadlines = new Deadlines()
  private failures = 0
  private openedAt = 0
  protected state: 'closed' | 'open' | 'probing' = 'closed'
  private firstReady: Promise<void> | undefined
  private started: ((settingUp: Promise<void> | void) => void) | undefined
  protected closed = false
  /** Bytes and failures so far (see {@link RedisCounts}). */
  readonly counts: RedisCounts = { bytesRead: 0, bytesWritten: 0, errors: {} }
  /** Told of each answered command's round trip; undefined (the default) costs one check per command. */
  onRoundTrip: RoundTripObserver | undefined
  /** Counts the bytes of a value read (bound once: nothing is allocated per read). */
  protected readonly countRead = (value: Buffer | null): void => {
    if (value !== null) this.counts.bytesRead += value.length
  }

  constructor(options: RedisTierOptions) {
    this.options = options
    // Started: the first connection is up and its set-up (the clock) done, or connectWait passed.
    this.firstReady = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, options.connectWaitMs)
      timer.unref()
      this.started = (settingUp) => {
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

  /** True while the command connection is connected and ready for commands. */
  protected abstract get connected(): boolean
  /** The connection's state, for an error message (`'connecting'`, `'reconnecting'`). */
  protected abstract get connectionState(): string

  /** Called before each command is written (ioredis batches socket writes here). */
  protected beforeSend(): void {}

  /** The connection is up: a fresh connection is the best probe there is; the owner sets it up. */
  protected connectionReady(): void {
    if (this.state !== 'closed') this.closeCircuit()
    this.failures = 0
    const settingUp = this.options.events.ready()
    this.started?.(settingUp)
    this.started = undefined
  }

  /** The client reported an error (a lost connection, a refused connection). */
  protected connectionError(error: Error): void {
    if (this.closed) return
    const wrapped = new RedisError(`redis: ${error.message}`, { cause: error })
    this.countError(wrapped)
    this.options.events.error(wrapped)
  }

  /**
   * True while optional commands are worth sending: connected, the circuit closed, and
   * the last command did not fail. After one failure (a timeout, most likely a paused or
   * overloaded server) a call stops at the first Redis command that failed instead of
   * paying the timeout again for the lock, the write and tag stamps; the next read is
   * still sent and, when it succeeds, makes the tier available again.
   */
  get available(): boolean {
    return this.connected && this.state === 'closed' && this.failures === 0
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
  run<T>(name: string, command: (client: C) => Promise<T>, received?: (value: T) => void): Promise<T> {
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
      this.beforeSend()
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
    if (!this.connected) return this.failed(new RedisError(`redis: not connected (${this.connectionState}), ${name} not sent`))
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

  /**
   * The readiness probe of `cache.health()`: `time` (one TIME) on a ready connection,
   * outside the circuit breaker, which it never opens or closes (a probe must not cut
   * callers off from Redis, nor let them through early). TIME rather than PING: the
   * documented ACLs grant it, since the clock needs it. Resolves with the round trip in
   * ms, or undefined when not connected (nothing sent); rejects with a `RedisError` when
   * the server refuses it (an ACL `NOPERM`), counted in {@link counts}. The caller bounds the wait.
   */
  protected async probeWith(time: () => Promise<unknown>): Promise<number | undefined> {
    if (this.closed || !this.connected) return undefined
    const started = performance.now()
    try {
      await time()
    } catch (error) {
      const wrapped = new RedisError(`redis: TIME failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
      this.countError(wrapped)
      throw wrapped
    }
    return performance.now() - started
  }

  /**
   * `WAIT replicas timeoutMs` through `wait` on each of `nodes` (the masters that took
   * the writes), outside {@link run}: WAIT takes its own time, and its answer bounds it
   * (plus `redisTimeout` for the reply). Resolves with the fewest replicas that confirmed.
   */
  protected async waitOn<N>(nodes: () => N[], wait: (node: N) => Promise<number>, timeoutMs: number): Promise<number> {
    if (this.closed || !this.connected) throw new RedisError(`redis: not connected (${this.connectionState}), WAIT not sent`)
    const limit = timeoutMs + this.options.timeoutMs
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RedisError(`redis: WAIT timed out after ${limit}ms`, { code: 'ERR_REDIS_TIMEOUT' })), limit)
    })
    try {
      const confirmed = await Promise.race([Promise.all(nodes().map(wait)), late])
      return Math.min(...confirmed)
    } catch (error) {
      throw error instanceof RedisError ? error : new RedisError(`redis: WAIT failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Each master's `maxmemory` (bytes; 0: no limit) and `maxmemory-policy`, from the `INFO
   * memory` that `info` reads on each of `masters`, for `cache.health()`. Outside {@link run}:
   * a refusal (an ACL without `INFO`) says nothing of Redis's health and must not count
   * against the breaker. INFO, not CONFIG GET: the documented ACLs grant it, and it reads no secret.
   */
  protected async memoryPoliciesOf<N>(masters: () => Promise<N[]> | N[], info: (node: N) => Promise<string>): Promise<{ maxmemory: number; policy: string }[]> {
    if (this.closed || !this.connected || this.state !== 'closed') throw new RedisError('redis: not asked')
    return Promise.all(
      (await masters()).map(async (node) => {
        const text = await info(node)
        const value = (name: string): string | undefined => new RegExp(`^${name}:(.*)$`, 'm').exec(text)?.[1]?.trim()
        return { maxmemory: Number(value('maxmemory') ?? 0), policy: value('maxmemory_policy') ?? 'unknown' }
      }),
    )
  }

  /**
   * Closes the connection: `quit` (a graceful close), but no longer than the command
   * timeout (a paused server never answers), then `drop` (the socket, at once).
   */
  protected async closeWith(quit: () => Promise<unknown>, drop: () => void): Promise<void> {
    this.closed = true
    let timer: NodeJS.Timeout | undefined
    await Promise.race([quit().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, this.options.timeoutMs)))])
    clearTimeout(timer)
    this.deadlines.expireAll()
    drop()
  }
}
