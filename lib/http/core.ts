/**
 * The flow of one request through the HTTP cache, top to bottom in
 * {@link HttpCache.handle}: bypass? → key → HEAD from the GET's entry, or the engine's
 * read-through call whose function runs the handler → answer (HIT, STALE, MISS, 304).
 */
import {
  CONDITIONAL, NOT_MODIFIED_KEEPS, NormalizedUrls, directive, hasAny, headerLine, isKeyableHost, mayShare, notModified, presentLines,
  resolve, resourceKey, strongEtag, text, variantKey, varyNames,
  type CacheStatus, type Exchange, type Held, type HttpCacheOptions, type Resolved, type Stored,
} from './shared.ts'
import { namespaceOf, type Namespace } from '../engine/namespace.ts'
import type { ResolvedEntryOptions } from '../options/resolve.ts'

/** At a base key: the response also varies on request headers `n`; it lives at its variant key. */
interface Variants { k: 'v'; n: readonly string[]; t: readonly string[] }
/** Never stored: a response that may not be shared. Whoever waited for it runs the handler itself. */
interface Unshared { k: 'n' }
type Value = Stored | Variants | Unshared

const UNSHARED: Unshared = { k: 'n' }
const DONE: Promise<void> = Promise.resolve()
const nextTurn = (): Promise<void> => new Promise((done) => setImmediate(done))

/** The cache logic every adapter shares (Express, Koa, Fastify); options are validated here, once. */
export class HttpCache<Req, Res> {
  private readonly settings: Resolved<Req, Res>
  /** The engine's options for every lookup, validated once (not per request). */
  private readonly entry: ResolvedEntryOptions<Value>
  /** The engine behind `o.cache`. */
  private readonly ns: Namespace
  /** Recent URLs with a query, normalized. */
  private readonly urls: NormalizedUrls

  /** `alsoAllowed`: option names the framework itself puts beside ours (Fastify's `prefix`, ...), ignored. */
  constructor(options: HttpCacheOptions<Req, Res>, where: string, alsoAllowed: readonly string[] = []) {
    this.settings = resolve(options, where, alsoAllowed)
    this.ns = namespaceOf(this.settings.cache) as Namespace
    this.entry = this.ns.resolveOptions<Value>(this.settings.entry, where)
    this.urls = new NormalizedUrls(this.settings.ignored)
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
      if ((req.method !== 'GET' && req.method !== 'HEAD') || this.skips(ex)) return Promise.resolve(ex.pass('BYPASS'))
      key = this.keyOf(ex)
      if (req.method === 'GET' && !(this.settings.honorNoCache && directive(req.headers['cache-control'], 'no-cache'))) {
        const hit = this.hot(key)
        if (hit !== undefined) {
          this.reply(ex, hit, 'HIT')
          return undefined
        }
      }
    } catch (error) {
      return Promise.reject(error)
    }
    return this.rest(ex, key)
  }

  /** What is not a fresh L1 hit: HEAD, a revalidation, or the engine's read-through call. */
  private async rest(ex: Exchange<Req, Res>, key: string): Promise<void> {
    const { req } = ex
    if (req.method === 'HEAD') return this.head(ex, key)
    if (this.settings.honorNoCache && directive(req.headers['cache-control'], 'no-cache')) return this.revalidate(ex, key)
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
    if (directive(h['cache-control'], 'no-store')) return true
    return this.settings.bypass !== undefined && this.settings.bypass(ex.user) === true
  }

  /**
   * GET (HEAD shares it) + host and URL as sent ({@link resourceKey}), or the user's key,
   * + the `vary` headers + the forwarding headers the request has. Without any of those,
   * the key is as it was before they were keyed; with them, their values make a key of
   * its own.
   */
  private keyOf(ex: Exchange<Req, Res>): string {
    const h = ex.req.headers
    let key = 'GET ' + (this.settings.key !== undefined ? this.settings.key(ex.user) : resourceKey(h.host, this.urls.of(ex.url)))
    for (const name of this.settings.vary) key += headerLine(name, h[name])
    return key + presentLines(this.settings.present, h)
  }

  /** A fresh response in L1, found without an await (the common case); else undefined. */
  private hot(key: string): Stored | undefined {
    try {
      const value = this.ns.engine.hot(this.ns.keyOf(key), this.entry, this.ns.origin)?.value
      return isValue(value) && value.k === 'r' ? value : undefined
    } catch {
      return undefined // The full lookup reports it.
    }
  }

  /** The engine's read-through call for `key` (`serve` has already looked for a fresh hit in L1). */
  private async lookup(ex: Exchange<Req, Res>, key: string, variant: readonly string[] | undefined, base: string): Promise<void> {
    const settings = this.settings
    let settled = false
    let own: Promise<Held<Req, Res> | undefined> | undefined
    let mine: Stored | undefined
    const factory = async (): Promise<Value> => {
      // With stale-while-revalidate the engine calls this in the background, just before or
      // after it hands us the stale value: then this request is answered, and must not run.
      if (!settled) await nextTurn()
      if (settled) {
        const copy = await ex.refresh(settings.maxBodySize)
        return this.valueOf(ex, copy && this.prepare(copy), base, variant)
      }
      own = this.hold(ex)
      let held: Held<Req, Res> | undefined
      try {
        held = await own
      } catch {
        return UNSHARED // The handler failed: its error is rethrown to this request only.
      }
      mine = held === undefined ? undefined : this.prepare(held)
      return this.valueOf(ex, mine, base, variant)
    }
    let value: Value
    let status: 'hit' | 'miss' | 'stale'
    try {
      ;({ value, status } = await this.ns.getOrSet<Value>(key, factory, this.entry))
    } catch (error) {
      settings.onError(error)
      value = UNSHARED
      status = 'miss'
    }
    settled = true
    // Our handler ran: answer with its response, even when the engine had a stale one meanwhile.
    if (own !== undefined) return this.finish(ex, await own, mine)
    if (!isValue(value)) {
      settings.onError(new TypeError(`memoredis http: the cache held something else than a response under ${key}`))
      return ex.pass('BYPASS')
    }
    if (value.k === 'r') return this.reply(ex, value, status === 'stale' ? 'STALE' : 'HIT')
    if (value.k === 'v' && variant === undefined) {
      const at = variantKey(key, value.n, ex.req.headers)
      const hit = this.hot(at)
      return hit !== undefined ? this.reply(ex, hit, 'HIT') : this.lookup(ex, at, value.n, key)
    }
    // Another request's response that may not be shared: this one runs the handler itself.
    return ex.pass('BYPASS')
  }

  /** A HEAD is answered from the GET's response; it cannot fill the cache (no body to keep). */
  private async head(ex: Exchange<Req, Res>, key: string): Promise<void> {
    let value: unknown
    try {
      value = await this.settings.cache.get<Value>(key)
      if (isValue(value) && value.k === 'v') value = await this.settings.cache.get<Value>(variantKey(key, value.n, ex.req.headers))
    } catch (error) {
      this.settings.onError(error)
    }
    if (isValue(value) && value.k === 'r') return this.reply(ex, value, 'HIT')
    return ex.pass('MISS')
  }

  /** `Cache-Control: no-cache` with `honorNoCache`: run the handler and replace what is cached. */
  private async revalidate(ex: Exchange<Req, Res>, key: string): Promise<void> {
    const held = await this.hold(ex)
    const stored = held === undefined ? undefined : this.prepare(held)
    if (stored !== undefined) {
      const value = await this.valueOf(ex, stored, key, undefined)
      await this.settings.cache.set(key, value, { ...this.settings.set, tags: value.k === 'n' ? [] : value.t }).catch(this.settings.onError)
    }
    this.finish(ex, held, stored)
  }

  /** Runs the handler with the request's conditions hidden, so that it makes the full response. */
  private hold(ex: Exchange<Req, Res>): Promise<Held<Req, Res> | undefined> {
    const h = ex.req.headers
    const saved = CONDITIONAL.map((name) => h[name])
    for (const name of CONDITIONAL) delete h[name]
    const restore = (): void => {
      CONDITIONAL.forEach((name, i) => {
        if (saved[i] !== undefined) h[name] = saved[i]
      })
    }
    const held = ex.capture(this.settings.maxBodySize)
    held.then(restore, restore)
    return held
  }

  /**
   * The value for the key of this call from the response as {@link prepare} made it (once:
   * it runs `tags`), storing a variant on the side when the response says `Vary`.
   */
  private async valueOf(ex: Exchange<Req, Res>, stored: Stored | undefined, base: string, variant: readonly string[] | undefined): Promise<Value> {
    if (stored === undefined) return UNSHARED
    const names = varyNames(stored.h.vary).filter((name) => !this.settings.varies.has(name))
    if (variant !== undefined && names.every((name) => variant.includes(name))) return stored
    if (variant === undefined && names.length === 0) return stored
    // It varies on request headers that this key does not hold: the base key points to
    // them, the response goes to its own key, and waiters on this key look there.
    const all = [...new Set([...(variant ?? []), ...names])].sort()
    const options = { ...this.settings.set, tags: stored.t }
    const pointer: Variants = { k: 'v', n: all, t: stored.t }
    try {
      await this.settings.cache.set(variantKey(base, all, ex.req.headers), stored, options)
      if (variant !== undefined) await this.settings.cache.set(base, pointer, options)
    } catch (error) {
      this.settings.onError(error)
    }
    return variant === undefined ? pointer : UNSHARED
  }

  /** The response as it will be kept, or undefined when it may not be shared. */
  private prepare(held: Held<Req, Res>): Stored | undefined {
    const { headers: h, status } = held
    if (!mayShare(held, this.settings.statuses) || held.body.length > this.settings.maxBodySize) return undefined
    const kept: Record<string, string> = {}
    for (const name of this.settings.kept) {
      const value = text(h[name])
      if (value !== undefined) kept[name] = value
    }
    if (this.settings.etag && kept.etag === undefined && status >= 200 && status < 300) kept.etag = strongEtag(held.body)
    let tags: readonly string[] = []
    if (this.settings.tags !== undefined) {
      try {
        tags = this.settings.tags(held.req, held.res)
        if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) throw new TypeError('tags must return an array of strings')
      } catch (error) {
        this.settings.onError(error)
        return undefined
      }
    }
    return { k: 'r', s: status, h: kept, b: held.body, c: Date.now(), t: tags }
  }

  /** Answers the request whose handler ran: MISS when kept, BYPASS when not. */
  private finish(ex: Exchange<Req, Res>, held: Held<Req, Res> | undefined, stored: Stored | undefined): void {
    if (held === undefined) return // It already went out as it was.
    if (stored === undefined) return held.release({ 'X-Cache': 'BYPASS' }, false)
    const extra: Record<string, string> = { 'X-Cache': 'MISS', Age: '0' }
    if (held.headers.etag === undefined && stored.h.etag !== undefined) extra.ETag = stored.h.etag
    held.release(extra, notModified(ex.req.headers, stored))
  }

  /** Answers from a kept response: 304 when the client's copy is current. */
  private reply(ex: Exchange<Req, Res>, stored: Stored, status: CacheStatus): void {
    const age = Math.max(0, Math.floor((Date.now() - stored.c) / 1000))
    if (notModified(ex.req.headers, stored)) {
      const headers: Record<string, string> = {}
      for (const name of NOT_MODIFIED_KEEPS) {
        const value = stored.h[name]
        if (value !== undefined) headers[name] = value
      }
      return ex.send({ status: 304, headers, cache: status, age, body: undefined })
    }
    const b = stored.b
    const body = stored.s === 204 ? undefined : Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)
    ex.send({ status: stored.s, headers: stored.h, cache: status, age, body })
  }
}

function isValue(value: unknown): value is Value {
  if (typeof value !== 'object' || value === null) return false
  const v = value as { k?: unknown; s?: unknown; h?: unknown; b?: unknown; c?: unknown; n?: unknown }
  if (v.k === 'r') return typeof v.s === 'number' && typeof v.h === 'object' && v.b instanceof Uint8Array && typeof v.c === 'number'
  return v.k === 'n' || (v.k === 'v' && Array.isArray(v.n))
}

