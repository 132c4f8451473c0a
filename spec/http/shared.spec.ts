import { expect } from 'chai'
import { createCache, InvalidOptionError } from '../../lib/index.ts'
import {
  FORWARDING, NormalizedUrls, REWRITING, directive, isKeyableHost, normalizeUrl, notModified, presentLines, resolve, resourceKey, strongEtag, variantKey,
  type Stored,
} from '../../lib/http/shared.ts'

function stored(headers: Record<string, string>, status = 200): Stored {
  return { k: 'r', s: status, h: headers, b: Buffer.from('body'), c: Date.now(), t: [] }
}

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

  describe('directive', () => {
    it('finds a Cache-Control directive by name, whatever the case, spacing and arguments', () => {
      expect(directive('No-Store', 'no-store')).to.equal(true)
      expect(directive('max-age=0, no-cache', 'no-cache')).to.equal(true)
      expect(directive('private="set-cookie"', 'private')).to.equal(true)
      expect(directive('no-cache-please', 'no-cache')).to.equal(false)
      expect(directive(undefined, 'no-store')).to.equal(false)
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
      expect([...o.statuses]).to.deep.equal([200, 203, 204, 300, 301, 404, 410])
      expect([o.maxBodySize, o.etag, o.honorNoCache, o.entry.staleWhileRevalidate]).to.deep.equal([1024 * 1024, true, false, true])
      expect(o.kept).to.deep.equal(['content-type', 'content-encoding', 'content-language', 'etag', 'last-modified', 'cache-control', 'vary'])
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
      expect([o.entry.ttl, o.entry.grace]).to.deep.equal([120_000, 1000])
    })

    it('names the option that is wrong', () => {
      const cache = createCache()
      expect(() => resolve({ cache, namespace: '' }, 'spec')).to.throw(InvalidOptionError, /spec: namespace/)
      expect(() => resolve({ cache, etag: 'yes' as unknown as boolean }, 'spec')).to.throw(InvalidOptionError, /spec: etag/)
      expect(() => resolve({ cache, tags: ['a'] as unknown as () => string[] }, 'spec')).to.throw(InvalidOptionError, /spec: tags/)
      expect(() => resolve({ cache, headers: ['content-length'] }, 'spec')).to.throw(InvalidOptionError, /content-length/)
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
