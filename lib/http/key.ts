/**
 * The key of a request: the host and the URL as sent (apart by construction), ignored
 * query parameters cut out, the request headers a response varies on, and the forwarding
 * headers a request has.
 */
import type { IncomingHttpHeaders } from 'node:http'

/**
 * Forwarding headers: behind a trusted proxy, frameworks and middleware take the
 * protocol, host, port and path prefix from them (Express with `trust proxy`, Koa with
 * `app.proxy`). Every one a request has joins its key, so that a response built from
 * them is only served to requests that send the same values.
 */
export const FORWARDING: readonly string[] = ['forwarded', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-prefix', 'x-forwarded-proto', 'x-forwarded-scheme']
/** Headers that rewrite the URL or the method a handler sees: they bypass the cache unless keyed (`rewriteHeaders`, `vary`). */
export const REWRITING: readonly string[] = ['x-http-method', 'x-http-method-override', 'x-method-override', 'x-original-url', 'x-rewrite-url']

/**
 * A `Host` the key may hold: a name or an IPv4 address (letters, digits, `-`, `.`, `_`,
 * `~`), or an IPv6 address in brackets, and an optional port. Such a host holds no space,
 * so that in the key it cannot run into the URL after it; any other host (`shop.example/static`,
 * `user@shop.example`, an empty one) bypasses the cache.
 */
const HOST = /^(?:[a-z0-9._~-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$/i

/** True when the request's `Host` is absent or a valid host[:port] (see {@link resourceKey}). */
export function isKeyableHost(host: string | undefined): boolean {
  return host === undefined || HOST.test(host)
}

/**
 * Host and URL, apart by construction: a keyable host ({@link isKeyableHost}) holds no
 * space, so the first space of the key ends it, whatever the URL holds. An absent Host is
 * empty.
 */
export function resourceKey(host: string | undefined, url: string): string {
  return `${host ?? ''} ${url}`
}

/**
 * Parsers read at most 1000 parameters (Node's `querystring`, `qs`): past that, cutting an
 * ignored one out would let a later one count. Longer queries are keyed whole.
 */
const MAX_PARAMETERS = 1000

/**
 * The URL as the key holds it: byte for byte as the client sent it (path, query and the
 * order of its parameters), never decoded, so that two requests share an entry only when
 * the framework reads them alike. Only the parameters `ignored` names are cut out, as
 * whole `name=value` pairs, and only those that every query parser reads as one parameter
 * of that name (no `;` nor `#`, which some parsers split or stop at; a name that decodes).
 */
export function normalizeUrl(url: string, ignored?: (name: string) => boolean): string {
  const q = url.indexOf('?')
  if (q < 0 || ignored === undefined) return url
  const pairs = url.slice(q + 1).split('&')
  if (pairs.length > MAX_PARAMETERS) return url
  const kept = pairs.filter((pair) => !isIgnored(pair, ignored))
  if (kept.length === pairs.length) return url
  return kept.length === 0 ? url.slice(0, q) : `${url.slice(0, q)}?${kept.join('&')}`
}

/** True when `pair` is one parameter whose decoded name `ignored` names. */
function isIgnored(pair: string, ignored: (name: string) => boolean): boolean {
  if (pair.includes(';') || pair.includes('#')) return false
  const eq = pair.indexOf('=')
  try {
    return ignored(decodeURIComponent((eq < 0 ? pair : pair.slice(0, eq)).replaceAll('+', ' ')))
  } catch {
    return false // Not valid percent-encoding: parsers read such a name each their own way.
  }
}

/**
 * {@link normalizeUrl} remembered for recent URLs with a query, when some parameters are
 * ignored (splitting and decoding a query costs more than the rest of a hit's key): up
 * to `max` URLs of at most `maxLength` characters, all forgotten at once when full. A
 * URL without a query, or any URL when nothing is ignored, is its own normal form and is
 * not kept.
 */
export class NormalizedUrls {
  private readonly known = new Map<string, string>()
  private readonly ignored: ((name: string) => boolean) | undefined
  private readonly max: number
  private readonly maxLength: number

  /** `ignored`: as for {@link normalizeUrl}; it must answer the same for the same name. Defaults: 512 URLs of 256 characters. */
  constructor(ignored: ((name: string) => boolean) | undefined, max = 512, maxLength = 256) {
    this.ignored = ignored
    this.max = max
    this.maxLength = maxLength
  }

  /** `url` normalized: the same as `normalizeUrl(url, ignored)`. */
  of(url: string): string {
    if (this.ignored === undefined || url.indexOf('?') < 0) return url
    let normal = this.known.get(url)
    if (normal !== undefined) return normal
    normal = normalizeUrl(url, this.ignored)
    if (url.length <= this.maxLength) {
      if (this.known.size >= this.max) this.known.clear()
      this.known.set(url, normal)
    }
    return normal
  }

  /** How many URLs are remembered. */
  get size(): number {
    return this.known.size
  }
}

/** The key of a response that also varies on request headers `names`. */
export function variantKey(base: string, names: readonly string[], headers: IncomingHttpHeaders): string {
  let key = base + '\n'
  for (const name of names) key += headerLine(name, headers[name])
  return key
}

// Header values never hold a line break, so lines cannot be forged; absent differs from empty.
export function headerLine(name: string, value: string | string[] | undefined): string {
  return value === undefined ? `\n${name}` : `\n${name}: ${typeof value === 'string' ? value : value.join(', ')}`
}

/** The lines of the headers among `names` that the request has (see {@link headerLine}). */
export function presentLines(names: readonly string[], headers: IncomingHttpHeaders): string {
  let lines = ''
  for (const name of names) {
    const value = headers[name]
    if (value !== undefined) lines += headerLine(name, value)
  }
  return lines
}

/** True when the request has one of the headers `names`. */
export function hasAny(names: readonly string[], headers: IncomingHttpHeaders): boolean {
  return names.some((name) => headers[name] !== undefined)
}

/**
 * The URL (path and query) a `Location` or `Content-Location` points to, when it is on
 * the request's own `host` (absolute, or relative to the request's URL `base`); else
 * undefined. A write invalidates the responses cached there too.
 */
export function sameHostUrl(target: string | undefined, host: string | undefined, base: string): string | undefined {
  if (target === undefined || host === undefined) return undefined
  try {
    const origin = new URL(`http://${host}`)
    const url = new URL(target, new URL(base, origin))
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.host !== origin.host) return undefined
    return url.pathname + url.search
  } catch {
    return undefined
  }
}
