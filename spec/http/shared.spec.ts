import { expect } from 'chai'
import { createCache, InvalidOptionError } from '../../lib/index.ts'
import { deltaSeconds, parseCacheControl } from '../../lib/http/cache-control.ts'
import { notModified, strongEtag } from '../../lib/http/conditional.ts'
import { timesOf, type FreshnessRules } from '../../lib/http/freshness.ts'
import { keptHeaders, PER_REQUEST } from '../../lib/http/headers.ts'
import { FORWARDING, NormalizedUrls, REWRITING, isKeyableHost, normalizeUrl, presentLines, resourceKey, sameHostUrl, variantKey } from '../../lib/http/key.ts'
import { resolve } from '../../lib/http/options.ts'
import type { Stored } from '../../lib/http/types.ts'

function stored(headers: Record<string, string>, status = 200): Stored {
  const now = Date.now()
  return { k: 'r', s: status, h: headers, b: Buffer.from('body'), c: now, a: 0, f: now + 60_000, w: now + 60_000, e: now + 60_000, t: [] }
}

const RULES: FreshnessRules = { mode: 'response', ttl: 0, maxTtl: undefined, grace: 0, staleWhileRevalidate: true, statuses: new Set([200, 301, 404]) }

describe('http keying and policy', () => {
  describe('normalizeUrl', () => {
    it('keeps a URL byte for byte as sent when nothing is ignored: order, escapes, a raw # and invalid escapes', () => {
      for (const url of ['/a/b', '/a/b?', '/p?b=2&a=1&b=1', '/p?q=a+b', '/p?q=%41', '/search?tag=#news', '/search?q=%FE', '/p?a=1;b=2']) {
        expect(normalizeUrl(url)).to.equal(url)
      }
      expect(new Set(['/p?q=%FE', '/p?q=%FF', '/p?tag=#news', '/p?tag=%23news'].map((url) => normalizeUrl(url))).size).to.equal(4)
    })

    it('cuts out ignored parameters as whole pairs (exact names, prefixes with *, regular expressions; names decoded), keeping the rest as sent', () => {
      const o = resolve({ cache: createCache(), ignoreQuery: ['fbclid', 'utm_*', /^_ga$/] }, 'spec')
      expect(normalizeUrl('/p?utm_source=x&utm_medium=y&fbclid=z&_ga=1&id=7', o.ignored)).to.equal('/p?id=7')
      expect(normalizeUrl('/p?utm_source=x', o.ignored)).to.equal('/p')
      expect(normalizeUrl('/p?utmost=1&fbclid2=1', o.ignored)).to.equal('/p?utmost=1&fbclid2=1')
      expect(normalizeUrl('/p?b=%41&utm_%73ource=x&a=1+2', o.ignored)).to.equal('/p?b=%41&a=1+2')
    })

    it('keeps an ignored name where a parser could read it otherwise: with ; or #, an invalid escape, past 1000 parameters', () => {
      const o = resolve({ cache: createCache(), ignoreQuery: ['utm_*'] }, 'spec')
      for (const url of ['/p?utm_a=1;admin=1', '/p?utm_a=1#&admin=1', '/p?utm_%FF=1&a=1', `/p?${'utm_a=1&'.repeat(1000)}admin=1`]) {
        expect(normalizeUrl(url, o.ignored), url.slice(0, 40)).to.equal(url)
      }
      expect(normalizeUrl(`/p?${'utm_a=1&'.repeat(999)}admin=1`, o.ignored)).to.equal('/p?admin=1')
    })
  })

  describe('host and URL in the key', () => {
    it('accepts a name, an IPv4 or an [IPv6] address with an optional port, or no Host at all', () => {
      for (const host of [undefined, 'shop.example', 'SHOP.example:8080', 'a_b.example', '127.0.0.1:3000', '[::1]', '[2001:db8::ffff:192.0.2.1]:443']) {
        expect(isKeyableHost(host), String(host)).to.equal(true)
      }
    })

    it('refuses any other Host: a path, a query, credentials, two ports, a named port, spaces, empty', () => {
      for (const host of ['shop.example/static', 'shop.example?a', 'shop.example#a', 'user@shop.example', 'a:1:2', 'a:http', 'a:123456', '[::1', 'a b', '', 'a\tb']) {
        expect(isKeyableHost(host), JSON.stringify(host)).to.equal(false)
      }
    })

    it('keeps host and URL apart: no host and URL pair makes the key of another', () => {
      expect(resourceKey('shop.example', '/static/app.js')).to.not.equal(resourceKey('shop.example/static', '/app.js'))
      expect(resourceKey(undefined, '/a')).to.equal(' /a')
      expect(resourceKey('a', 'b/c')).to.not.equal(resourceKey('ab', '/c'))
    })
  })

  describe('NormalizedUrls', () => {
    it('answers as normalizeUrl does, ignored parameters included, the first time and the next', () => {
      const o = resolve({ cache: createCache(), ignoreQuery: ['utm_*'] }, 'spec')
      const urls = new NormalizedUrls(o.ignored)
      for (const url of ['/a', '/p?b=2&a=1&utm_source=x', '/p?q=a b', '/p?utm_medium=y']) {
        const expected = normalizeUrl(url, o.ignored)
        expect(urls.of(url)).to.equal(expected)
        expect(urls.of(url)).to.equal(expected)
      }
    })

    it('keeps only URLs with a query when some parameters are ignored, up to its bounds, and starts over when full', () => {
      const ignored = (name: string): boolean => name === 'x'
      const none = new NormalizedUrls(undefined)
      expect([none.of('/p?x=1&a=1'), none.size]).to.deep.equal(['/p?x=1&a=1', 0])
      const urls = new NormalizedUrls(ignored, 2, 10)
      urls.of('/no-query')
      urls.of('/p?' + 'x'.repeat(20))
      expect(urls.size).to.equal(0)
      urls.of('/p?x=1&a=1')
      urls.of('/q?x=1&a=1')
      expect(urls.size).to.equal(2)
      expect(urls.of('/r?x=1&a=1')).to.equal('/r?a=1')
      expect(urls.size).to.equal(1)
    })
  })

  describe('variantKey', () => {
    it('tells an absent header from an empty one, and one value from another', () => {
      const keys = [
        variantKey('GET /x', ['accept-language'], {}),
        variantKey('GET /x', ['accept-language'], { 'accept-language': '' }),
        variantKey('GET /x', ['accept-language'], { 'accept-language': 'fr' }),
        variantKey('GET /x', ['accept-language'], { 'accept-language': 'en' }),
      ]
      expect(new Set(keys).size).to.equal(4)
      expect(keys.every((key) => key.startsWith('GET /x\n\n'))).to.equal(true)
    })
  })

  describe('presentLines', () => {
    it('adds nothing for a request without the headers, and tells values apart', () => {
      expect(presentLines(FORWARDING, { host: 'a.example', 'accept-language': 'fr' })).to.equal('')
      const keys = [
        presentLines(FORWARDING, { 'x-forwarded-host': 'a.example' }),
        presentLines(FORWARDING, { 'x-forwarded-host': 'b.example' }),
        presentLines(FORWARDING, { 'x-forwarded-host': '' }),
        presentLines(FORWARDING, { 'x-forwarded-proto': 'a.example' }),
        presentLines(FORWARDING, { 'x-forwarded-host': 'a.example', 'x-forwarded-proto': 'https' }),
      ]
      expect(new Set(keys).size).to.equal(5)
      expect(keys[0]).to.equal('\nx-forwarded-host: a.example')
    })
  })

  describe('parseCacheControl', () => {
    it('reads directives whatever the case and spacing, unquotes values, keeps the first of a name, and reads several lines as one', () => {
      const d = parseCacheControl('No-Store, max-age=60 ,  private="set-cookie, x-a", max-age=0')
      expect([...d]).to.deep.equal([['no-store', true], ['max-age', '60'], ['private', 'set-cookie, x-a']])
      expect([...parseCacheControl(['public', 's-maxage=5'])]).to.deep.equal([['public', true], ['s-maxage', '5']])
      expect(parseCacheControl('no-cache-please').has('no-cache')).to.equal(false)
      expect(parseCacheControl(undefined).size).to.equal(0)
    })

    it('reads delta-seconds: a quoted number counts, anything else is NaN (stale), a huge one is capped', () => {
      const d = parseCacheControl('max-age="30", s-maxage=1.5, stale-if-error=-1, stale-while-revalidate=99999999999')
      expect([deltaSeconds(d, 'max-age'), deltaSeconds(d, 's-maxage'), deltaSeconds(d, 'stale-if-error'), deltaSeconds(d, 'stale-while-revalidate')])
        .to.deep.equal([30, Number.NaN, Number.NaN, 2147483648])
      expect(deltaSeconds(d, 'no-cache')).to.equal(undefined)
    })
  })

  describe('freshness', () => {
    const now = Date.parse('2024-06-01T00:00:00Z')
    const times = (headers: Record<string, string>, status = 200, rules = RULES): { fresh: number; swr: number; sie: number; age: number } => {
      const t = timesOf({ status, headers }, rules, now)
      return { fresh: (t.f - now) / 1000, swr: (t.w - t.f) / 1000, sie: (t.e - t.f) / 1000, age: t.a / 1000 }
    }
    const date = new Date(now).toUTCString()

    it('takes CDN-Cache-Control over s-maxage over max-age over Expires, less the age the response already has', () => {
      expect(times({ 'cdn-cache-control': 'max-age=50', 'cache-control': 's-maxage=10, max-age=5' }).fresh).to.equal(50)
      expect(times({ 'cache-control': 's-maxage=10, max-age=5' }).fresh).to.equal(10)
      expect(times({ 'cache-control': 'max-age=5', expires: new Date(now + 99_000).toUTCString() }).fresh).to.equal(5)
      expect(times({ date, expires: new Date(now + 30_000).toUTCString() }).fresh).to.equal(30)
      expect(times({ 'cache-control': 'max-age=60', age: '20' })).to.include({ fresh: 40, age: 20 })
      expect(times({ 'cache-control': 'max-age=60', date: new Date(now - 15_000).toUTCString() })).to.include({ fresh: 45, age: 15 })
    })

    it('makes no-cache, max-age=0, an invalid max-age or Expires stale at once, and forbids grace with must-revalidate', () => {
      for (const headers of [{ 'cache-control': 'no-cache, max-age=60' }, { 'cache-control': 'max-age=0' }, { 'cache-control': 'max-age=1.5' }, { expires: '0' }] as Record<string, string>[]) {
        expect(times(headers).fresh, JSON.stringify(headers)).to.equal(0)
      }
      const graced = { ...RULES, grace: 30_000 }
      expect(times({ 'cache-control': 'max-age=5' }, 200, graced)).to.include({ swr: 30, sie: 30 })
      expect(times({ 'cache-control': 'max-age=5, must-revalidate' }, 200, graced)).to.include({ swr: 0, sie: 0 })
      expect(times({ 'cache-control': 'max-age=5, stale-while-revalidate=10, stale-if-error=60' })).to.include({ swr: 10, sie: 60 })
    })

    it('gives heuristic freshness only to a status that allows it: ttl, else a tenth of the time since Last-Modified', () => {
      const modified = new Date(now - 1000_000).toUTCString()
      expect(times({ date, 'last-modified': modified }).fresh).to.equal(100)
      expect(times({ date, 'last-modified': modified }, 500).fresh).to.equal(0)
      expect(times({}, 200).fresh).to.equal(0)
      expect(times({}, 200, { ...RULES, ttl: 7000 }).fresh).to.equal(7)
      expect(times({ 'cache-control': 'max-age=3600' }, 200, { ...RULES, maxTtl: 60_000 }).fresh).to.equal(60)
      expect(times({ 'cache-control': 'max-age=3600' }, 200, { ...RULES, mode: 'ttl', ttl: 9000 }).fresh).to.equal(9)
    })
  })

  describe('keptHeaders', () => {
    it('keeps every end-to-end header, and drops hop-by-hop ones, those Connection names, those written anew and those dropped', () => {
      const kept = keptHeaders({
        Location: '/new', link: '</p?page=2>; rel="next"', 'x-total-count': '42', 'access-control-allow-origin': '*', 'content-disposition': 'attachment',
        connection: 'x-hop', 'x-hop': '1', 'keep-alive': 'timeout=5', 'transfer-encoding': 'chunked', 'content-length': '3', date: 'x', age: '3',
        'x-request-id': 'r1', 'x-cache': 'MISS',
      }, new Set(PER_REQUEST))
      expect(kept).to.deep.equal({ location: '/new', link: '</p?page=2>; rel="next"', 'x-total-count': '42', 'access-control-allow-origin': '*', 'content-disposition': 'attachment' })
    })
  })

  describe('sameHostUrl', () => {
    it('reads a Location on the same host, absolute or relative, and nothing on another', () => {
      expect(sameHostUrl('/b?x=1', 'shop.example', '/a')).to.equal('/b?x=1')
      expect(sameHostUrl('c', 'shop.example', '/a/b')).to.equal('/a/c')
      expect(sameHostUrl('http://shop.example/d', 'shop.example', '/a')).to.equal('/d')
      expect(sameHostUrl('https://evil.example/d', 'shop.example', '/a')).to.equal(undefined)
    })
  })

  describe('notModified', () => {
    it('matches If-None-Match weakly, in a list, and *', () => {
      const s = stored({ etag: '"abc"' })
      expect(notModified({ 'if-none-match': '"abc"' }, s)).to.equal(true)
      expect(notModified({ 'if-none-match': 'W/"abc"' }, s)).to.equal(true)
      expect(notModified({ 'if-none-match': '"x", "abc"' }, s)).to.equal(true)
      expect(notModified({ 'if-none-match': '*' }, s)).to.equal(true)
      expect(notModified({ 'if-none-match': '"x"' }, s)).to.equal(false)
    })

    it('uses If-Modified-Since only without If-None-Match', () => {
      const s = stored({ etag: '"abc"', 'last-modified': 'Mon, 01 Jan 2024 00:00:00 GMT' })
      expect(notModified({ 'if-modified-since': 'Tue, 02 Jan 2024 00:00:00 GMT' }, s)).to.equal(true)
      expect(notModified({ 'if-modified-since': 'Sun, 31 Dec 2023 00:00:00 GMT' }, s)).to.equal(false)
      expect(notModified({ 'if-none-match': '"x"', 'if-modified-since': 'Tue, 02 Jan 2024 00:00:00 GMT' }, s)).to.equal(false)
      expect(notModified({ 'if-modified-since': 'not a date' }, s)).to.equal(false)
    })

    it('never turns a response other than 2xx into a 304', () => {
      expect(notModified({ 'if-none-match': '*' }, stored({ etag: '"abc"' }, 404))).to.equal(false)
    })
  })

  describe('strongEtag', () => {
    it('is strong, the same for the same bytes, and different for others', () => {
      const tag = strongEtag(Buffer.from('hello'))
      expect(tag).to.match(/^"5-[A-Za-z0-9_-]+"$/)
      expect(strongEtag(new Uint8Array(Buffer.from('hello')))).to.equal(tag)
      expect(strongEtag(Buffer.from('hellO'))).to.not.equal(tag)
    })
  })

  describe('options', () => {
    it('applies the documented defaults', () => {
      const o = resolve({ cache: createCache() }, 'spec')
      expect([...o.statuses]).to.deep.equal([200, 203, 204, 300, 301, 308, 404, 410])
      expect([o.freshness, o.maxBodySize, o.etag, o.honorNoCache, o.staleWhileRevalidate]).to.deep.equal(['response', 1024 * 1024, true, false, true])
      expect([...o.dropped]).to.deep.equal(PER_REQUEST)
      expect(o.vary).to.deep.equal([])
      expect([o.present, o.bypassing]).to.deep.equal([FORWARDING, REWRITING])
    })

    it("keys the rewrite headers with rewriteHeaders: 'key', and leaves the headers named in vary to vary", () => {
      const cache = createCache()
      const keyed = resolve({ cache, rewriteHeaders: 'key' }, 'spec')
      expect([keyed.present, keyed.bypassing]).to.deep.equal([[...FORWARDING, ...REWRITING].sort(), []])
      const named = resolve({ cache, vary: ['X-Forwarded-Host', 'X-Original-URL'] }, 'spec')
      expect(named.present).to.deep.equal(FORWARDING.filter((name) => name !== 'x-forwarded-host'))
      expect(named.bypassing).to.deep.equal(REWRITING.filter((name) => name !== 'x-original-url'))
    })

    it('lowercases and sorts header names, and parses durations to milliseconds', () => {
      const o = resolve({ cache: createCache(), vary: ['X-B', 'Accept-Language', 'x-b'], ttl: '2m', grace: '1s' }, 'spec')
      expect(o.vary).to.deep.equal(['accept-language', 'x-b'])
      expect([o.ttl, o.grace]).to.deep.equal([120_000, 1000])
    })

    it('names the option that is wrong', () => {
      const cache = createCache()
      expect(() => resolve({ cache, namespace: '' }, 'spec')).to.throw(InvalidOptionError, /spec: namespace/)
      expect(() => resolve({ cache, etag: 'yes' as unknown as boolean }, 'spec')).to.throw(InvalidOptionError, /spec: etag/)
      expect(() => resolve({ cache, tags: ['a'] as unknown as () => string[] }, 'spec')).to.throw(InvalidOptionError, /spec: tags/)
      expect(() => resolve({ cache, dropHeaders: ['X Id'] }, 'spec')).to.throw(InvalidOptionError, /spec: dropHeaders/)
      expect(() => resolve({ cache, freshness: 'cdn' as 'ttl' }, 'spec')).to.throw(InvalidOptionError, /spec: freshness/)
      expect(() => resolve({ cache, freshness: 'ttl', ttl: 0 }, 'spec')).to.throw(InvalidOptionError, /spec: ttl/)
      expect(() => resolve({ cache, vary: ['X Tenant'] }, 'spec')).to.throw(InvalidOptionError, /spec: vary/)
      expect(() => resolve({ cache, vary: 'X-Tenant' as unknown as string[] }, 'spec')).to.throw(InvalidOptionError, /spec: vary/)
    })

    it("refuses a rewriteHeaders other than 'bypass' or 'key'", () => {
      const cache = createCache()
      for (const bad of ['keyed', 'BYPASS', true, 1, null]) {
        expect(() => resolve({ cache, rewriteHeaders: bad as 'key' }, 'spec'), String(bad)).to.throw(InvalidOptionError, /spec: rewriteHeaders must be 'bypass' or 'key'/)
      }
      expect(resolve({ cache, rewriteHeaders: 'bypass' }, 'spec').bypassing).to.deep.equal(REWRITING)
    })
  })
})
