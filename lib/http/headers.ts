/**
 * Which response headers a hit replays: every end-to-end header the handler set, except
 * the hop-by-hop ones, those its `Connection` names, those the cache writes itself and
 * those named in `dropHeaders`. One rule, for every framework.
 */
import type { OutgoingHttpHeaders } from 'node:http'

/** Hop-by-hop headers (RFC 9110 §7.6.1, and the ones proxies still send): they describe one connection. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authentication-info', 'te', 'trailer', 'transfer-encoding', 'upgrade']

/**
 * Written again for each answer: the length (of the body sent), `Date` (now), `Age` (from
 * the stored age) and `X-Cache`. `Set-Cookie` never reaches here: a response that sets a
 * cookie is never kept.
 */
const REWRITTEN = ['content-length', 'date', 'age', 'x-cache', 'set-cookie']

/** Never kept, whatever `dropHeaders` says. */
export const NEVER_KEPT: ReadonlySet<string> = new Set([...HOP_BY_HOP, ...REWRITTEN])

/**
 * `dropHeaders` by default: headers that describe one request or one run of the handler,
 * which a hit would replay as a lie (another request's id in the logs, the timing of a
 * run that did not happen).
 */
export const PER_REQUEST: readonly string[] = ['request-id', 'server-timing', 'x-correlation-id', 'x-request-id', 'x-response-time']

/** A header value as one string (lines joined with `, `); undefined when absent. */
export function text(value: OutgoingHttpHeaders[string]): string | undefined {
  if (value === undefined) return undefined
  return Array.isArray(value) ? value.join(', ') : String(value)
}

/** The names in a comma-separated list of header names (`Vary`, `Connection`), lowercase. */
export function headerNames(value: string | undefined): string[] {
  if (value === undefined) return []
  return value.split(',').map((name) => name.trim().toLowerCase()).filter((name) => name !== '')
}

/** The headers a hit replays, lowercase names, from those a handler set. */
export function keptHeaders(headers: OutgoingHttpHeaders, dropped: ReadonlySet<string>): Record<string, string> {
  const connection = headerNames(text(headers.connection))
  const kept: Record<string, string> = {}
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase()
    if (NEVER_KEPT.has(lower) || dropped.has(lower) || connection.includes(lower)) continue
    const value = text(headers[name])
    if (value !== undefined) kept[lower] = value
  }
  return kept
}
