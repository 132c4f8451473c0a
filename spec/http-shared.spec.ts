import { expect } from 'chai'
import { createCache, InvalidOptionError } from '../lib/index.ts'
import {
  FORWARDING, NormalizedUrls, REWRITING, directive, normalizeUrl, notModified, presentLines, resolve, strongEtag, variantKey, type Stored,
} from '../lib/http/shared.ts'

function stored(headers: Record<string, string>, status = 200): Stored {
  return { k: 'r', s: status, h: headers, b: Buffer.from('body'), c: Date.now(), t: [] }
}

describe('http keying and policy', () => {
  describe('normalizeUrl', () => {
    it('keeps a URL without a query as it is', () => {
      expect(normalizeUrl('/a/b')).to.equal('/a/b')
      expect(normalizeUrl('/a/b?')).to.equal('/a/b')
    })

    it('sorts parameters by name, keeping the order of repeated ones', () => {
      expect(normalizeUrl('/p?b=2&a=1&b=1')).to.equal('/p?a=1&b=2&b=1')
    })

    it('encodes the same query the same way', () => {
      expect(normalizeUrl('/p?q=a b')).to.equal(normalizeUrl('/p?q=a+b'))
      expect(normalizeUrl('/p?q=%41')).to.equal(normalizeUrl('/p?q=A'))
    })

    it('drops ignored parameters: exact names, prefixes with *, regular expressions', () => {
      const o = resolve({ cache: createCache(), ignoreQuery: ['fbclid', 'utm_*', /^_ga$/] }, 'spec')
      expect(normalizeUrl('/p?utm_source=x&utm_medium=y&fbclid=z&_ga=1&id=7', o.ignored)).to.equal('/p?id=7')
      expect(normalizeUrl('/p?utm_source=x', o.ignored)).to.equal('/p')
      expect(normalizeUrl('/p?utmost=1&fbclid2=1', o.ignored)).to.equal('/p?fbclid2=1&utmost=1')
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

    it('keeps only URLs with a query, up to its bounds, and starts over when full', () => {
      const urls = new NormalizedUrls(undefined, 2, 10)
      urls.of('/no-query')
      urls.of('/p?' + 'x'.repeat(20))
      expect(urls.size).to.equal(0)
      urls.of('/p?b=1&a=1')
      urls.of('/q?b=1&a=1')
      expect(urls.size).to.equal(2)
      expect(urls.of('/r?b=1&a=1')).to.equal('/r?a=1&b=1')
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
