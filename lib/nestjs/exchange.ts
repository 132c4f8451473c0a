/**
 * One request of a NestJS app (Express or Fastify platform), as the HTTP core sees it:
 * the handler runs through the interceptor's `next.handle()`, and what Nest then writes
 * to the Node response is held back (`capture.ts`) until the cache has judged it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { CallHandler } from '@nestjs/common'
import type { Subscriber, Subscription } from 'rxjs'
import { holdResponse, NOWHERE, sendAnswer, shadowRequest } from '../http/capture.ts'
import type { Answer, CacheStatus, Exchange, Held } from '../http/types.ts'
import type { MemoredisRequest } from './options.ts'

/** The detached copies of requests (background refreshes) whose handler failed: their response is never kept. */
export const failedShadows = new WeakSet<IncomingMessage>()

/** Sends a request through the whole app from the top (a background refresh's detached copy). */
export type Dispatch = (req: IncomingMessage, res: ServerResponse) => void

/** What a {@link NestExchange} is made of: one request as the platform and Node show it, and the pipeline to run. */
export interface NestExchangeInput {
  /** The platform's request: Express's `req`, Fastify's `request`. What `key`, `bypass` and `tags` receive. */
  user: MemoredisRequest
  /** The Node request and response under it (the same objects on Express). */
  req: IncomingMessage
  res: ServerResponse
  /** The platform's response (Express's `res`, Fastify's `reply`): muted with the Node one after a hit. */
  reply: object
  /** How to send a detached copy of a request through the app; undefined: no background refresh. */
  dispatch: Dispatch | undefined
  next: CallHandler
  subscriber: Subscriber<unknown>
}

/** The Nest request pipeline of one request (GET or HEAD), driven by `HttpCache`. */
export class NestExchange implements Exchange<MemoredisRequest, ServerResponse> {
  readonly req: IncomingMessage
  readonly user: MemoredisRequest
  readonly res: ServerResponse
  private readonly reply: object
  private readonly dispatch: Dispatch | undefined
  private readonly next: CallHandler
  private readonly subscriber: Subscriber<unknown>
  private subscription: Subscription | undefined
  /** The handler (or an interceptor after this one) failed: its response goes out, never kept. */
  private failed = false

  constructor(input: NestExchangeInput) {
    this.req = input.req
    this.user = input.user
    this.res = input.res
    this.reply = input.reply
    this.dispatch = input.dispatch
    this.next = input.next
    this.subscriber = input.subscriber
  }

  get url(): string {
    return urlOf(this.user, this.req)
  }

  pass(status: CacheStatus): void {
    if (!this.res.headersSent) this.res.setHeader('X-Cache', status)
    this.run()
  }

  capture(limit: number): Promise<Held<MemoredisRequest, ServerResponse> | undefined> {
    const hold = holdResponse(this.res, limit, true)
    this.run()
    return hold.captured.then((c) => {
      if (c === undefined) return undefined
      if (!this.failed) return { ...c, req: this.user, res: this.res, release: hold.release, replace: hold.replace }
      // An exception filter's response: sent as it is, never kept, never given to waiters.
      hold.release({ 'X-Cache': 'BYPASS' }, false)
      return undefined
    })
  }

  refresh(limit: number): Promise<Held<MemoredisRequest, ServerResponse> | undefined> {
    if (this.dispatch === undefined) return Promise.resolve(undefined)
    const copy = shadowRequest(this.req, this.url)
    const hold = holdResponse(copy.res, limit, false)
    this.dispatch(copy.req, copy.res)
    return hold.captured.then((c) => {
      if (c === undefined || failedShadows.has(copy.req)) return undefined
      return { ...c, req: copy.req as MemoredisRequest, res: copy.res, ...NOWHERE }
    })
  }

  send(answer: Answer): void {
    const res = this.res
    sendAnswer(res, answer)
    // The handler did not run; Nest still replies with what the interceptors give it,
    // to a response already sent: let that reply write nothing.
    mute(res)
    if (this.reply !== res) mute(this.reply)
    this.subscriber.next(undefined)
    this.subscriber.complete()
  }

  /** A failure of the cache's own flow (the user's `key` or `bypass` threw): Nest's exception filters answer. */
  fail(error: unknown): void {
    if (!this.subscriber.closed) this.subscriber.error(error)
  }

  /** The interceptor's subscriber went away (the client left): stop the handler's stream. */
  teardown(): void {
    this.subscription?.unsubscribe()
  }

  /** Runs the rest of the pipeline (later interceptors, the handler), its outcome handed to Nest. */
  private run(): void {
    this.subscription = this.next.handle().subscribe({
      next: (value) => this.subscriber.next(value),
      error: (error: unknown) => {
        this.failed = true
        this.subscriber.error(error)
      },
      complete: () => this.subscriber.complete(),
    })
  }
}

/** The URL as the client sent it: Express's and Fastify's `originalUrl`, else the Node request's. */
export function urlOf(user: MemoredisRequest, raw: IncomingMessage): string {
  return (user as { originalUrl?: string }).originalUrl ?? raw.url ?? '/'
}

/** The writing methods of a Node response, of Express's and of Fastify's reply. */
const MUTED = [
  'setHeader', 'appendHeader', 'removeHeader', 'writeHead', 'flushHeaders', 'write', 'end',
  'status', 'set', 'header', 'headers', 'type', 'json', 'send', 'code',
] as const

/** Makes every later write to a response already sent a no-op (they would throw ERR_HTTP_HEADERS_SENT, or warn). */
function mute(res: object): void {
  const target = res as Record<string, unknown>
  for (const name of MUTED) {
    if (typeof target[name] === 'function') target[name] = name === 'write' ? () => true : () => res
  }
}
