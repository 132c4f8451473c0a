/**
 * `expressCache`: Express middleware that caches whole GET/HEAD responses in a
 * memoredis cache, with its stampede protection and tags. Express is an optional peer:
 * this file only needs its types.
 *
 * @example
 * import { createCache } from 'memoredis'
 * import { expressCache } from 'memoredis/express'
 *
 * const cache = createCache({ redis: process.env.REDIS_URL })
 * app.use('/api', expressCache({ cache, ttl: '30s', tags: (req) => [`path:${req.path}`] }))
 */
import type { Application, NextFunction, Request, RequestHandler, Response } from 'express'
import { holdResponse, isShadow, NOWHERE, sendAnswer, shadowRequest } from './capture.ts'
import { HttpCache } from './core.ts'
import type { HttpCacheOptions } from './options.ts'
import type { Answer, CacheStatus, Exchange, Held } from './types.ts'

/** Options of {@link expressCache}: `key`, `bypass` and `tags` receive Express's `req` (and `res`). */
export type ExpressCacheOptions = HttpCacheOptions<Request, Response>
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
export function expressCache(options: ExpressCacheOptions): RequestHandler {
  const core = new HttpCache<Request, Response>(options, 'expressCache')
  return function memoredisCache(req: Request, res: Response, next: NextFunction): void {
    // A background refresh's copy of a request: let it through to the handler.
    if (isShadow(req)) return next()
    core.serve(new ExpressExchange(req, res, next))?.catch(next) // undefined: answered from L1 already
  }
}

class ExpressExchange implements Exchange<Request, Response> {
  readonly req: Request
  readonly user: Request
  readonly res: Response
  private readonly next: NextFunction

  constructor(req: Request, res: Response, next: NextFunction) {
    this.req = req
    this.user = req
    this.res = res
    this.next = next
  }

  get url(): string {
    return this.req.originalUrl
  }

  pass(status: CacheStatus): void {
    this.res.setHeader('X-Cache', status)
    this.next()
  }

  capture(limit: number): Promise<Held<Request, Response> | undefined> {
    const hold = holdResponse(this.res, limit, true)
    this.next()
    return hold.captured.then((c) => c && { ...c, req: this.req, res: this.res, release: hold.release, replace: hold.replace })
  }

  refresh(limit: number): Promise<Held<Request, Response> | undefined> {
    // The copy goes through the whole app from the top, as the original did.
    let app = this.req.app as Application & { parent?: Application }
    while (typeof app.parent === 'function') app = app.parent as Application & { parent?: Application }
    const copy = shadowRequest(this.req, this.req.originalUrl)
    const hold = holdResponse(copy.res, limit, false)
    app(copy.req, copy.res)
    return hold.captured.then((c) => c && { ...c, req: copy.req as Request, res: copy.res as Response, ...NOWHERE })
  }

  send(answer: Answer): void {
    sendAnswer(this.res, answer)
  }
}
