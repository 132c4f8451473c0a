/**
 * The flow of one request through the HTTP cache, top to bottom in
 * {@link HttpCache.serve}: a write invalidates → bypass? → key → fresh in L1 → HEAD from
 * the GET's entry, or the engine's read-through call whose function runs the handler →
 * fresh: HIT; stale: STALE (revalidated behind) or revalidated now (`revalidation.ts`).
 */
import type { IncomingHttpHeaders } from 'node:http'
import { CONDITIONAL } from './conditional.ts'
import { isFresh, keptFor, type FreshnessRules } from './freshness.ts'
import { headerNames, text } from './headers.ts'
import { NormalizedUrls, hasAny, headerLine, isKeyableHost, presentLines, resourceKey, sameHostUrl, variantKey } from './key.ts'
import { resolve, type HttpCacheOptions, type Resolved } from './options.ts'
import { answerOf, finish, isValue, storedOf, UNSHARED, type Keeping, type Value, type Variants } from './responses.ts'
import { Revalidations } from './revalidation.ts'
import { parseCacheControl } from './cache-control.ts'
import type { Exchange, Held, Stored } from './types.ts'
import { namespaceOf, type Namespace } from '../engine/namespace.ts'
import type { ResolvedEntryOptions } from '../options/resolve.ts'

const DONE: Promise<void> = Promise.resolve()
/** Methods that change nothing: they neither are cached nor invalidate. */
const SAFE = new Set(['OPTIONS', 'TRACE'])

/** The cache logic every adapter shares (Express, Koa, Fastify, NestJS); options are validated here, once. */
export class HttpCache<Req, Res> {
  private readonly settings: Resolved<Req, Res>
  /** The engine's options for every lookup, validated once (not per request). */
  private readonly entry: ResolvedEntryOptions<Value>
  /** The engine behind `o.cache`. */
  private readonly ns: Namespace
  /** Recent URLs with a query, normalized. */
  private readonly urls: NormalizedUrls
  private readonly keeping: Keeping
  private readonly revalidations: Revalidations<Req, Res>

  /** `alsoAllowed`: option names the framework itself puts beside ours (Fastify's `prefix`, ...), ignored. */
  constructor(options: HttpCacheOptions<Req, Res>, where: string, alsoAllowed: readonly string[] = []) {
    const s = (this.settings = resolve(options, where, alsoAllowed))
    this.ns = namespaceOf(s.cache) as Namespace
    const defaults = this.ns.core.options.entry
    const rules: FreshnessRules = {
      mode: s.freshness, ttl: s.ttl ?? defaults.ttl, maxTtl: s.maxTtl, grace: s.grace ?? defaults.grace,
      staleWhileRevalidate: s.staleWhileRevalidate, statuses: s.statuses,
    }
    this.keeping = { rules, dropped: s.dropped, maxBodySize: s.maxBodySize, etag: s.etag, tagsOf: (held) => this.tagsOf(held) }
    // The engine keeps each response as long as its own times say; staleness is judged here.
    const engine = { staleWhileRevalidate: false, grace: 0, tags: (v: Value) => (v.k === 'n' ? [] : v.t), shouldCache: (v: Value) => v.k !== 'n' }
    const lifetime = (v: Value): number | undefined => (v.k === 'r' ? keptFor(v, Date.now()) : v.k === 'v' ? v.l : undefined)
    this.entry = { ...this.ns.resolveOptions<Value>(engine, where), lifetime }
    this.urls = new NormalizedUrls(s.ignored)
    this.revalidations = new Revalidations({ ns: this.ns, entry: this.entry, keeping: this.keeping, store: (ex, stored, base, variant) => this.valueOf(ex, stored, base, variant), hold: (ex, conditions) => this.hold(ex, conditions), onError: s.onError })
  }

  /** Hands an error the adapter swallowed to `onError` (default: a process warning). */
  report(error: unknown): void {
    this.settings.onError(error)
  }

  /** One request, top to bottom. Rejects only with the user's own errors (`key`, `bypass`, the handler's in Koa). */
  handle(ex: Exchange<Req, Res>): Promise<void> {
    return this.serve(ex) ?? DONE
  }

  /**
   * {@link handle}, but a fresh hit in L1 is answered at once and returns undefined: no
   * promise to make nor to wait for (the common case). Otherwise, the promise of the
   * rest. Never throws: the user's errors (`key`, `bypass`) reject the promise.
   */
  serve(ex: Exchange<Req, Res>): Promise<void> | undefined {
    const { req } = ex
    let key: string
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return Promise.resolve(this.write(ex))
      if (this.skips(ex)) return Promise.resolve(ex.pass('BYPASS'))
      key = this.keyOf(ex)
      if (req.method === 'GET' && !this.forced(req.headers)) {
        const hit = this.hot(key)
        if (hit !== undefined) {
          ex.send(answerOf(req.headers, hit, 'HIT'))
          return undefined
        }
      }
    } catch (error) {
      return Promise.reject(error)
    }
    return this.rest(ex, key)
  }

  /**
   * An unsafe request (POST, PUT, PATCH, DELETE, ...) runs uncached; once it succeeded
   * (2xx, 3xx), the responses kept for its URL, and for its `Location` and
   * `Content-Location` on the same host, are dropped in every process (RFC 9111 §4.4).
   */
  invalidateAfter(ex: Pick<Exchange<Req, Res>, 'req' | 'res' | 'url' | 'user'>): void {
    if (SAFE.has(ex.req.method ?? '')) return
    ex.res.once('finish', () => {
      const status = ex.res.statusCode
      const host = ex.req.headers.host
      if (status < 200 || status >= 400 || !isKeyableHost(host)) return
      const keys = new Set([this.keyOf(ex)])
      for (const name of ['location', 'content-location']) {
        const url = sameHostUrl(text(ex.res.getHeader(name)), host, ex.url)
        if (url !== undefined && this.settings.key === undefined) keys.add(this.keyOf({ req: ex.req, url, user: ex.user }))
      }
      for (const key of keys) this.settings.cache.delete(key).catch(this.settings.onError)
    })
  }

  private write(ex: Exchange<Req, Res>): void | Promise<void> {
    this.invalidateAfter(ex)
    return ex.pass('BYPASS')
  }

  /** A request's `Cache-Control: no-cache`, followed with `honorNoCache`: the handler runs and replaces what is kept. */
  private forced(h: IncomingHttpHeaders): boolean {
    return this.settings.honorNoCache && parseCacheControl(h['cache-control']).has('no-cache')
  }

  /** What is not a fresh L1 hit: HEAD, a forced refresh, or the engine's read-through call. */
  private async rest(ex: Exchange<Req, Res>, key: string): Promise<void> {
    if (ex.req.method === 'HEAD') return this.head(ex, key)
    if (this.forced(ex.req.headers)) return this.refetch(ex, key)
    return this.lookup(ex, key, undefined, key)
  }

  /**
   * Requests that may carry one user's view (credentials, cookies), rewrite what the
   * handler sees, carry a body the key does not hold (a handler may read a GET's body),
   * have a Host the key cannot hold apart from the URL, or refuse storage.
   */
  private skips(ex: Exchange<Req, Res>): boolean {
    const h = ex.req.headers
    if (h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0')) return true
    if (!isKeyableHost(h.host) || hasAny(this.settings.bypassing, h)) return true
    if (h.authorization !== undefined && !this.settings.varies.has('authorization')) return true
    if (h.cookie !== undefined && !this.settings.varies.has('cookie')) return true
    if (parseCacheControl(h['cache-control']).has('no-store')) return true
    return this.settings.bypass !== undefined && this.settings.bypass(ex.user) === true
  }

  /**
   * GET (HEAD shares it) + host and URL as sent ({@link resourceKey}), or the user's key,
   * + the `vary` headers + the forwarding headers the request has. Without any of those,
   * the key is as it was before they were keyed; with them, their values make a key of
   * its own.
   */
  private keyOf(ex: Pick<Exchange<Req, Res>, 'req' | 'url' | 'user'>): string {
    const h = ex.req.headers
    let key = 'GET ' + (this.settings.key !== undefined ? this.settings.key(ex.user) : resourceKey(h.host, this.urls.of(ex.url)))
    for (const name of this.settings.vary) key += headerLine(name, h[name])
    return key + presentLines(this.settings.present, h)
  }

  /** A fresh response in L1, found without an await (the common case); else undefined. */
  private hot(key: string): Stored | undefined {
    try {
      const value = this.ns.engine.hot(this.ns.keyOf(key), this.entry, this.ns.origin)?.value
      return isValue(value) && value.k === 'r' && isFresh(value, Date.now()) ? value : undefined
    } catch {
      return undefined // The full lookup reports it.
    }
  }

  /** The engine's read-through call for `key` (`serve` has already looked for a fresh hit in L1). */
  private async lookup(ex: Exchange<Req, Res>, key: string, variant: readonly string[] | undefined, base: string): Promise<void> {
    let own: Promise<Held<Req, Res> | undefined> | undefined
    let mine: Stored | undefined
    const factory = async (): Promise<Value> => {
      own = this.hold(ex, undefined)
      let held: Held<Req, Res> | undefined
      try {
        held = await own
      } catch {
        return UNSHARED // The handler failed: its error is rethrown to this request only.
      }
      mine = held === undefined ? undefined : storedOf(held, this.keeping)
      return this.valueOf(ex, mine, base, variant)
    }
    let value: Value
    // When the engine made it (its server clock): a refresh must find something newer.
    let created = 0
    try {
      const result = await this.ns.getOrSet<Value>(key, factory, this.entry)
      value = result.value
      created = result.created
    } catch (error) {
      this.settings.onError(error)
      value = UNSHARED
    }
    // Our handler ran: answer with its response.
    if (own !== undefined) return finish(ex, await own, mine)
    if (!isValue(value)) {
      this.settings.onError(new TypeError(`memoredis http: the cache held something else than a response under ${key}`))
      return ex.pass('BYPASS')
    }
    if (value.k === 'r') return this.revalidations.serve(ex, { key, stored: value, base, variant, created })
    if (value.k === 'v' && variant === undefined) {
      const at = variantKey(key, value.n, ex.req.headers)
      const hit = this.hot(at)
      return hit !== undefined ? ex.send(answerOf(ex.req.headers, hit, 'HIT')) : this.lookup(ex, at, value.n, key)
    }
    // Another request's response that may not be shared: this one runs the handler itself.
    return ex.pass('BYPASS')
  }

  /** A HEAD is answered from the GET's fresh response; it cannot fill the cache (no body to keep). */
  private async head(ex: Exchange<Req, Res>, key: string): Promise<void> {
    let value: unknown
    try {
      value = await this.settings.cache.get<Value>(key)
      if (isValue(value) && value.k === 'v') value = await this.settings.cache.get<Value>(variantKey(key, value.n, ex.req.headers))
    } catch (error) {
      this.settings.onError(error)
    }
    if (isValue(value) && value.k === 'r' && isFresh(value, Date.now())) return ex.send(answerOf(ex.req.headers, value, 'HIT'))
    return ex.pass('MISS')
  }

  /** `Cache-Control: no-cache` with `honorNoCache`: run the handler and replace what is kept. */
  private async refetch(ex: Exchange<Req, Res>, key: string): Promise<void> {
    const held = await this.hold(ex, undefined)
    const stored = held === undefined ? undefined : storedOf(held, this.keeping)
    if (stored !== undefined) {
      const value = await this.valueOf(ex, stored, key, undefined)
      if (value.k !== 'n') await this.store(key, value).catch(this.settings.onError)
    }
    finish(ex, held, stored)
  }

  /**
   * Runs the handler with the request's conditions hidden, so that it makes the full
   * response; or with `conditions` instead (the cache's own, to revalidate what it keeps).
   */
  private hold(ex: Exchange<Req, Res>, conditions: Readonly<Record<string, string>> | undefined): Promise<Held<Req, Res> | undefined> {
    const h = ex.req.headers
    const saved = CONDITIONAL.map((name) => h[name])
    for (const name of CONDITIONAL) delete h[name]
    if (conditions !== undefined) Object.assign(h, conditions)
    const restore = (): void => {
      CONDITIONAL.forEach((name, i) => {
        if (saved[i] !== undefined) h[name] = saved[i]
        else delete h[name]
      })
    }
    const held = ex.capture(this.settings.maxBodySize)
    held.then(restore, restore)
    return held
  }

  /** Stores `value` under `key` with the engine's options (its lifetime from its own times). */
  private store(key: string, value: Value): Promise<void> {
    const ns = this.ns
    return ns.engine.write(ns.call(ns.keyOf(key), () => value, this.entry))
  }

  /**
   * The value for the key of this call from the response as `storedOf` made it, storing a
   * variant on the side when the response says `Vary`.
   */
  private async valueOf(ex: Exchange<Req, Res>, stored: Stored | undefined, base: string, variant: readonly string[] | undefined): Promise<Value> {
    if (stored === undefined) return UNSHARED
    const names = headerNames(stored.h.vary).filter((name) => !this.settings.varies.has(name))
    if (variant !== undefined && names.every((name) => variant.includes(name))) return stored
    if (variant === undefined && names.length === 0) return stored
    // It varies on request headers that this key does not hold: the base key points to
    // them, the response goes to its own key, and waiters on this key look there.
    const all = [...new Set([...(variant ?? []), ...names])].sort()
    const pointer: Variants = { k: 'v', n: all, t: stored.t, l: keptFor(stored, Date.now()) }
    try {
      await this.store(variantKey(base, all, ex.req.headers), stored)
      if (variant !== undefined) await this.store(base, pointer)
    } catch (error) {
      this.settings.onError(error)
    }
    return variant === undefined ? pointer : UNSHARED
  }

  /** `tags` for a handler's response; undefined (reported) when it throws or returns no list of strings. */
  private tagsOf(held: Held<unknown, unknown>): readonly string[] | undefined {
    if (this.settings.tags === undefined) return []
    try {
      const tags = this.settings.tags(held.req as Req, held.res as Res)
      if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) throw new TypeError('tags must return an array of strings')
      return tags
    } catch (error) {
      this.settings.onError(error)
      return undefined
    }
  }

}
