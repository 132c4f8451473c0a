/**
 * Conditional requests (RFC 9110 §13): a client's `If-None-Match` and `If-Modified-Since`
 * answered from a kept response, the conditions the cache sends its handler to revalidate
 * a stale one, and the strong ETag it gives a response without one.
 */
import { createHash } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { Stored } from './types.ts'

/** The request headers that make a request conditional (hidden from a handler whose full response the cache needs). */
export const CONDITIONAL = ['if-none-match', 'if-modified-since'] as const

/** The headers a 304 carries from the response it stands for (RFC 9110 §15.4.5). */
export const NOT_MODIFIED_KEEPS = ['etag', 'cache-control', 'cdn-cache-control', 'vary', 'last-modified', 'content-location', 'expires']

/** True when the client's copy (If-None-Match, else If-Modified-Since) is still the kept one. */
export function notModified(h: IncomingHttpHeaders, stored: Stored): boolean {
  if (stored.s < 200 || stored.s > 299) return false
  const match = h['if-none-match']
  if (match !== undefined) {
    const etag = stored.h.etag
    if (etag === undefined) return false
    return match.trim() === '*' || match.split(',').some((tag) => weak(tag.trim()) === weak(etag))
  }
  const condition = h['if-modified-since']
  const lastModified = stored.h['last-modified']
  if (condition === undefined || lastModified === undefined) return false
  const since = Date.parse(condition)
  const modified = Date.parse(lastModified)
  return !Number.isNaN(since) && !Number.isNaN(modified) && modified <= since
}

const weak = (tag: string): string => (tag.startsWith('W/') ? tag.slice(2) : tag)

/** True when a stale response can be revalidated: it has an ETag or a Last-Modified. */
export function hasValidator(stored: Pick<Stored, 'h'>): boolean {
  return stored.h.etag !== undefined || stored.h['last-modified'] !== undefined
}

/** The conditions that ask the handler whether `stored` is still current (RFC 9111 §4.3.1). */
export function conditionsFor(stored: Stored): Record<string, string> {
  const conditions: Record<string, string> = {}
  if (stored.h.etag !== undefined) conditions['if-none-match'] = stored.h.etag
  if (stored.h['last-modified'] !== undefined) conditions['if-modified-since'] = stored.h['last-modified']
  return conditions
}

/** `"<length>-<sha1>"`: the same bytes always get the same tag. */
export function strongEtag(body: Uint8Array): string {
  return `"${body.byteLength.toString(16)}-${createHash('sha1').update(body).digest('base64url')}"`
}
