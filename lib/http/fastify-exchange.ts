/**
 * One Fastify request as the HTTP core sees it: hits are sent with `reply.send(bytes)`
 * from a `preHandler` hook, and a handler's reply is taken in `onSend`, after Fastify's
 * serialization, held until the cache has judged it. Background refreshes send a copy of
 * the request through the app with `fastify.inject()`, marked by a header with a secret.
 * `fastify.ts` wires these into a plugin.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { holdResponse } from './capture.ts'
import { readStream } from './stream-read.ts'
import { CONDITIONAL } from './conditional.ts'
import type { Answer, CacheStatus, Exchange, Held, Release } from './types.ts'

type FastifyHeld = Held<FastifyRequest, FastifyReply>

/** What `onSend` was given, as bytes; or too large to keep; or not bytes at all (a fetch `Response`). */
type Read = { kind: 'bytes'; body: Buffer; onward: unknown } | { kind: 'over'; onward: unknown } | { kind: 'opaque' }

const EMPTY = Buffer.alloc(0)
/** The request header that marks a background refresh's copy; its value is a secret of the plugin. */
const REFRESH_HEADER = 'x-memoredis-refresh'

/** The payload `onSend` got, read as bytes up to `limit` (a stream is read, and sent on as the bytes read). */
async function bytesOf(payload: unknown, limit: number): Promise<Read> {
  if (payload === undefined || payload === null) return { kind: 'bytes', body: EMPTY, onward: payload }
  if (typeof payload === 'string' || Buffer.isBuffer(payload)) {
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload
    return body.length > limit ? { kind: 'over', onward: payload } : { kind: 'bytes', body, onward: payload }
  }
  let stream: Readable | undefined
  if (payload instanceof Readable) stream = payload
  else if (payload instanceof ReadableStream) stream = Readable.fromWeb(payload as import('node:stream/web').ReadableStream)
  if (stream === undefined) return { kind: 'opaque' }
  const read = await readStream(stream, limit)
  return read.kind === 'whole' ? { kind: 'bytes', body: read.body, onward: read.body } : { kind: 'over', onward: read.rest }
}

/**
 * A reply to take in `onSend`: the client's own (`live`: released by the cache, then
 * sent), or a background refresh's (taken and sent nowhere that matters). The payload is
 * kept as it reaches the plugin's `onSend`; the `onSend` hooks after it run on, and the
 * reply is held at the Node response, where its headers are final (`capture.ts`).
 */
export class PayloadHold {
  readonly held: Promise<FastifyHeld | undefined>
  private waiting = true
  private settle: (held: FastifyHeld | undefined) => void = () => undefined
  private release: Release | undefined
  private readonly limit: number
  private readonly live: boolean

  constructor(limit: number, live: boolean) {
    this.limit = limit
    this.live = live
    this.held = new Promise((resolve) => (this.settle = resolve))
  }

  /** Nothing will come (the refresh ended, or the reply went out without `onSend`): whoever waits goes on without it. */
  readonly drop = (): void => {
    if (!this.waiting) return
    this.waiting = false
    this.settle(undefined)
  }

  /** The cache is done with the request: a reply still held goes out as the handler made it. */
  finish(): void {
    this.release?.({ 'X-Cache': 'BYPASS' }, false)
  }

  /** `onSend`: takes the payload; resolves with the payload to send on. */
  async take(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    if (!this.waiting) return payload
    this.waiting = false
    let read: Read
    try {
      read = await bytesOf(payload, this.limit)
    } catch (error) {
      this.settle(undefined)
      throw error
    }
    if (read.kind !== 'bytes') {
      // Too large, or not bytes: it goes out as it is, uncached.
      this.settle(undefined)
      if (this.live) reply.header('x-cache', 'BYPASS')
      return read.kind === 'over' ? read.onward : payload
    }
    const made = { status: reply.statusCode, headers: reply.getHeaders() as OutgoingHttpHeaders, body: read.body }
    const hold = holdResponse(reply.raw, this.limit, this.live)
    this.release = hold.release
    void hold.captured.then((sent) => {
      this.settle(sent && { ...made, out: sent.out, req: request, res: reply, release: hold.release, replace: hold.replace })
    })
    // A stream with a declared length goes on as a stream, so that Fastify sends that length as declared.
    if (read.onward !== payload && reply.getHeader('content-length') !== undefined) return Readable.from([read.body])
    return read.onward
  }
}

const holds = new WeakMap<FastifyRequest, PayloadHold>()

/** The `onSend` hook: a reply the cache waits for is taken; any other goes on untouched. */
export function takePayload(request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: Error | null, payload?: unknown) => void): void {
  const hold = holds.get(request)
  if (hold === undefined) return done(null, payload)
  holds.delete(request)
  hold.take(request, reply, payload).then(
    (onward) => done(null, onward),
    (error: unknown) => done(error instanceof Error ? error : new Error(String(error))),
  )
}

/**
 * Background refreshes: a copy of a request sent through the whole app with
 * `fastify.inject()`, its reply taken in `onSend`. The copy carries a header whose value
 * is a secret of this plugin and a number, so that no client can pass for one.
 */
export class Refreshes {
  private readonly pending = new Map<string, PayloadHold>()
  private readonly secret = randomUUID()
  private count = 0
  private readonly app: FastifyInstance
  private readonly report: (error: unknown) => void

  constructor(app: FastifyInstance, report: (error: unknown) => void) {
    this.app = app
    this.report = report
  }

  /** Sends a GET copy of `request` (its conditions left out) through the app; resolves with its reply, held. */
  run(request: FastifyRequest, limit: number): Promise<FastifyHeld | undefined> {
    const token = `${this.secret}.${++this.count}`
    const hold = new PayloadHold(limit, false)
    this.pending.set(token, hold)
    const headers: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(request.headers)) if (value !== undefined) headers[name] = value
    for (const name of CONDITIONAL) delete headers[name]
    headers[REFRESH_HEADER] = token
    const remoteAddress = request.socket?.remoteAddress
    this.app
      .inject({ method: 'GET', url: request.originalUrl, headers, ...(remoteAddress === undefined ? {} : { remoteAddress }) })
      .catch(this.report)
      .finally(() => {
        this.pending.delete(token)
        hold.drop()
      })
    return hold.held
  }

  /** In `preHandler`: true when `request` is a refresh's copy; its reply is then taken for the refresh. */
  claim(request: FastifyRequest): boolean {
    const token = request.raw.headers[REFRESH_HEADER]
    if (typeof token !== 'string') return false
    const hold = this.pending.get(token)
    if (hold === undefined) return false
    this.pending.delete(token)
    delete request.raw.headers[REFRESH_HEADER]
    holds.set(request, hold)
    return true
  }
}

/** One request for {@link HttpCache}: the lifecycle goes on (`next`) once the cache decided not to answer it. */
export class FastifyExchange implements Exchange<FastifyRequest, FastifyReply> {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly user: FastifyRequest
  private readonly reply: FastifyReply
  private readonly next: (error?: Error) => void
  private readonly refreshes: Refreshes
  private decided = false
  private hold: PayloadHold | undefined

  constructor(request: FastifyRequest, reply: FastifyReply, next: (error?: Error) => void, refreshes: Refreshes) {
    this.req = request.raw
    this.res = reply.raw
    this.user = request
    this.reply = reply
    this.next = next
    this.refreshes = refreshes
  }

  get url(): string {
    return this.user.originalUrl
  }

  pass(status: CacheStatus): void {
    this.reply.header('x-cache', status)
    this.proceed()
  }

  capture(limit: number): Promise<FastifyHeld | undefined> {
    const hold = new PayloadHold(limit, true)
    this.hold = hold
    holds.set(this.user, hold)
    this.reply.raw.once('finish', hold.drop) // the reply went out without `onSend` (hijacked)
    this.proceed()
    return hold.held
  }

  refresh(limit: number): Promise<FastifyHeld | undefined> {
    return this.refreshes.run(this.user, limit)
  }

  send(answer: Answer): void {
    this.decided = true
    const reply = this.reply
    reply.code(answer.status)
    reply.headers(answer.headers)
    reply.header('x-cache', answer.cache)
    reply.header('age', String(answer.age))
    reply.send(answer.body)
  }

  /** The cache is done: a request it never let through goes on with `error`; a reply still held goes out. */
  settled(error: unknown, report: (error: unknown) => void): void {
    if (!this.decided) {
      this.decided = true
      this.next(error === undefined ? undefined : error instanceof Error ? error : new Error(String(error)))
    } else if (error !== undefined) {
      report(error)
    }
    this.hold?.finish()
  }

  private proceed(): void {
    this.decided = true
    this.next()
  }
}
