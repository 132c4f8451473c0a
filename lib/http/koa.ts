/**
 * `koaCache`: Koa middleware that caches whole GET/HEAD responses in a memoredis cache,
 * with its stampede protection and tags. Koa is an optional peer: this file only needs
 * its types.
 *
 * @example
 * import { createCache } from 'memoredis'
 * import { koaCache } from 'memoredis/koa'
 *
 * const cache = createCache({ redis: process.env.REDIS_URL })
 * app.use(koaCache({ cache, ttl: '30s', tags: (ctx) => [`path:${ctx.path}`] }))
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import type { Context, Middleware, Next } from 'koa'
import { holdResponse, isShadow, NOWHERE, shadowRequest } from './capture.ts'
import { readStream } from './stream-read.ts'
import { HttpCache } from './core.ts'
import type { HttpCacheOptions } from './options.ts'
import type { Answer, CacheStatus, Exchange, Held } from './types.ts'

/** Options of {@link koaCache}: `key`, `bypass` and `tags` receive Koa's `ctx` (`tags` twice: as request and response). */
export type KoaCacheOptions = HttpCacheOptions<Context, Context>
export type { CacheStatus } from './types.ts'

/**
 * Caches GET and HEAD responses: status, body and the headers that describe it, keyed by
 * host, the URL as sent, the `vary` request headers and the forwarding headers a request
 * has (`X-Forwarded-Host`, ...); a request that rewrites its URL or method
 * (`X-Original-URL`, ...) bypasses the cache unless `rewriteHeaders` is `'key'`.
 * Answers with `X-Cache: HIT | MISS | STALE | BYPASS` and `Age`, and with 304 when the
 * client's copy is current. Options are validated here (`InvalidOptionError`); cache
 * trouble never fails a request.
 */
export function koaCache(options: KoaCacheOptions): Middleware {
  const core = new HttpCache<Context, Context>(options, 'koaCache')
  return function memoredisCache(ctx: Context, next: Next): Promise<void> {
    if (isShadow(ctx.req)) {
      // A background refresh's copy of a request: let it through, and let `tags` see its ctx.
      shadowContexts.set(ctx.req, ctx)
      return next()
    }
    const exchange = new KoaExchange(ctx, next)
    // Settles when the cache is done, or once it handed the handler's response back to Koa.
    return Promise.race([core.handle(exchange), exchange.handed])
  }
}

const shadowContexts = new WeakMap<IncomingMessage, Context>()
const callbacks = new WeakMap<object, (req: IncomingMessage, res: ServerResponse) => unknown>()
const EMPTY = new Set([204, 205, 304])

class KoaExchange implements Exchange<Context, Context> {
  readonly user: Context
  /** Resolves when a handler's response is made and goes back to Koa, to be judged as it goes out. */
  readonly handed: Promise<void>
  private readonly next: Next
  private hand: () => void = () => undefined

  constructor(ctx: Context, next: Next) {
    this.user = ctx
    this.next = next
    this.handed = new Promise((resolve) => (this.hand = resolve))
  }

  get req(): IncomingMessage {
    return this.user.req
  }

  get res(): ServerResponse {
    return this.user.res
  }

  get url(): string {
    return this.user.originalUrl
  }

  async pass(status: CacheStatus): Promise<void> {
    this.user.set('X-Cache', status)
    await this.next()
  }

  async capture(limit: number): Promise<Held<Context, Context> | undefined> {
    const ctx = this.user
    await this.next()
    const body = await bytesOf(ctx, limit)
    if (body === undefined) return undefined
    const made = { status: ctx.status, headers: ctx.response.headers, body }
    // The middleware mounted before this one (a session's, after its `next()`) and
    // Koa's own reply come next: the response is judged on the headers it goes out with.
    const hold = holdResponse(ctx.res, limit, true)
    this.hand()
    const sent = await hold.captured
    return sent && { ...made, out: sent.out, req: ctx, res: ctx, release: hold.release, replace: hold.replace }
  }

  refresh(limit: number): Promise<Held<Context, Context> | undefined> {
    // The copy goes through the whole app from the top, as the original did.
    const app = this.user.app
    let callback = callbacks.get(app)
    if (callback === undefined) callbacks.set(app, (callback = app.callback()))
    const copy = shadowRequest(this.user.req, this.user.originalUrl)
    const hold = holdResponse(copy.res, limit, false)
    void callback(copy.req, copy.res)
    return hold.captured.then((c) => {
      const ctx = shadowContexts.get(copy.req) ?? this.user
      return c && { ...c, req: ctx, res: ctx, ...NOWHERE }
    })
  }

  send(answer: Answer): void {
    const ctx = this.user
    ctx.status = answer.status
    ctx.set(answer.headers)
    ctx.set('X-Cache', answer.cache)
    ctx.set('Age', String(answer.age))
    if (answer.body !== undefined) ctx.body = answer.body
  }
}

/**
 * The body as Koa would send it, as bytes, now held in `ctx.body` as a Buffer; or
 * undefined when it goes out as it is: larger than `limit` (a stream then carries on,
 * its first chunks put back in front), or written by the handler itself.
 */
async function bytesOf(ctx: Context, limit: number): Promise<Buffer | undefined> {
  if (ctx.respond === false) return undefined // The handler wrote it itself.
  if (ctx.type === 'text/event-stream') {
    ctx.set('X-Cache', 'BYPASS') // Server-sent events never end: never held.
    return undefined
  }
  let body: unknown = ctx.body
  if (EMPTY.has(ctx.status)) return Buffer.alloc(0)
  if (body === null || body === undefined) {
    if ((ctx.response as { _explicitNullBody?: boolean })._explicitNullBody === true) return Buffer.alloc(0)
    // What Koa sends for a status without a body.
    body = ctx.req.httpVersionMajor >= 2 ? String(ctx.status) : ctx.message || String(ctx.status)
    ctx.type = 'text'
  }
  let bytes: Buffer | undefined
  if (Buffer.isBuffer(body)) bytes = body
  else if (typeof body === 'string') bytes = Buffer.from(body)
  else if (body instanceof Blob) bytes = body.size > limit ? undefined : Buffer.from(await body.arrayBuffer())
  else if (body instanceof ReadableStream) return readBody(ctx, Readable.fromWeb(body as import('node:stream/web').ReadableStream), limit)
  else if (body instanceof Readable) return readBody(ctx, body, limit)
  else if (body instanceof Response) return undefined
  else bytes = Buffer.from(JSON.stringify(body))
  if (bytes === undefined || bytes.length > limit) {
    ctx.set('X-Cache', 'BYPASS')
    return undefined
  }
  return holdBody(ctx, bytes)
}

/**
 * Puts the bytes in `ctx.body`, keeping the status (Koa would turn a default 404 into
 * 200) and a declared Content-Length (a body that does not match it is never kept, and
 * fails for the client as it would without the cache).
 */
function holdBody(ctx: Context, bytes: Buffer): Buffer {
  const status = ctx.status
  const declared = ctx.res.getHeader('content-length')
  ctx.body = bytes
  if (ctx.status !== status) ctx.status = status
  if (declared !== undefined) ctx.res.setHeader('content-length', declared)
  return bytes
}

async function readBody(ctx: Context, stream: Readable, limit: number): Promise<Buffer | undefined> {
  const read = await readStream(stream, limit)
  if (read.kind === 'whole') return holdBody(ctx, read.body)
  // Too large to keep: the client gets it streamed, uncached.
  ctx.body = read.rest
  ctx.set('X-Cache', 'BYPASS')
  return undefined
}
