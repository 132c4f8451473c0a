import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { Redis, type RedisOptions } from 'ioredis'
import { createCache, memoize, RedisError, type Cache, type CacheEvents } from '../../lib/index.ts'
import { RedisServer, freePort } from '../support/redis-server.ts'
import { makeCertificates, type Certificates } from '../support/tls.ts'
import { specClients, type ServerAddress, type SpecClient } from '../support/topology.ts'
import { coreOf, isConnected } from '../support/internals.ts'

/*
 * memoredis on a TLS-only Redis (mutual TLS: clients need a certificate) as ACL users
 * confined to their prefix. The users are the ACL lines of docs/security.md, applied
 * verbatim (`ACL SETUSER` and the words after `user`), so that the docs and this spec
 * cannot drift apart: `app` is the first line, `appbus` the second (the bus only) under
 * another name, and `other` the first line for prefix `other`. `notime` is the first line,
 * less TIME (the command of `cache.health()`'s probe) once its cache has started: the
 * cache's start-up needs TIME too (its clock and its stamp buckets' floors). The caches run
 * on every client (`specClients`): node-redis on RESP2 for what is about tracking only.
 */

/** The `user app …` lines of docs/security.md, as written there. */
const DOCUMENTED = [...readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8').matchAll(/^user app on >\S+ .+$/gm)].map((m) => m[0])
/** `ACL SETUSER` arguments of a documented line, for user `name` (and prefix `prefix`, when not `app`). */
const setUser = (line: string, name: string, prefix = 'app'): string[] => {
  const words = line.split(' ').slice(1)
  words[0] = name
  return words.map((word) => word.replace(/^([~&])app:/, `$1${prefix}:`))
}
const [ANY_MODE = '', BUS_ONLY = ''] = DOCUMENTED
const USERS = {
  app: setUser(ANY_MODE, 'app'),
  appbus: setUser(BUS_ONLY, 'appbus'),
  other: setUser(ANY_MODE, 'other', 'other'),
  notime: setUser(ANY_MODE, 'notime'),
}
type User = keyof typeof USERS
/** A user's password: its `>` word. */
const passwordOf = (user: User): string => (USERS[user].find((word) => word.startsWith('>')) ?? '>').slice(1)
/** True when the user's rule grants client tracking. */
const tracks = (user: User): boolean => USERS[user].includes('+client|tracking')

interface Opened {
  cache: Cache
  errors: CacheEvents['error'][]
  warnings: CacheEvents['warning'][]
  /** Resolves once the cache hears other processes' writes (rejects after 3s). */
  listening(): Promise<void>
}

describe('TLS and ACL', function () {
  this.timeout(20_000)
  let certs: Certificates
  let server: RedisServer
  let admin: Redis
  const opened: (Cache | Redis)[] = []

  const connection = (user?: User): RedisOptions & ServerAddress => ({
    host: '127.0.0.1',
    port: server.port,
    tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
    ...(user === undefined ? {} : { username: user, password: passwordOf(user) }),
  })
  const raw = (user: User): Redis => {
    const client = new Redis({ ...connection(user), maxRetriesPerRequest: 0 })
    opened.push(client)
    return client
  }
  /** A cache as `user` on `client`; `coherence` undefined leaves the option out (the default, 'tracking'). */
  const open = (client: SpecClient, user: User, coherence: 'tracking' | 'bus' | undefined, prefix = 'app'): Opened => {
    const cache = createCache({ redis: client.redis(connection(user)), prefix, ...(coherence === undefined ? {} : { coherence }), ttl: '1h', lock: { ttl: '200ms' } })
    opened.push(cache)
    const errors: CacheEvents['error'][] = []
    const warnings: CacheEvents['warning'][] = []
    cache.on('error', (e) => errors.push(e)).on('warning', (w) => warnings.push(w))
    // Internal state, as the stampede worker reads it: connected, and tracking on or the bus subscribed.
    const listening = (): Promise<void> =>
      until(
        async () => isConnected(cache) && coreOf(cache).coherence?.settled === true,
        `${user}'s cache to listen for other processes' writes`,
      )
    return { cache, errors, warnings, listening }
  }
  /** ACL LOG entries as { reason, object, username }. */
  const denials = async (): Promise<{ reason: string; object: string; username: string }[]> => {
    const entries = (await admin.call('ACL', 'LOG')) as (unknown[] | Record<string, unknown>)[]
    return entries.map((entry) => {
      const fields = Array.isArray(entry) ? Object.fromEntries(pairs(entry)) : entry
      return { reason: String(fields.reason), object: String(fields.object), username: String(fields.username) }
    })
  }

  before(async () => {
    certs = makeCertificates()
    const port = await freePort()
    // TLS only (`--port 0` turns plain TCP off), and a client certificate is required.
    server = await RedisServer.start({
      port,
      args: ['--port', '0', '--tls-port', String(port), ...certs.serverArgs, '--tls-auth-clients', 'yes'],
    })
    admin = new Redis(connection())
    expect(DOCUMENTED, 'the ACL lines of docs/security.md').to.have.length(2)
    for (const words of Object.values(USERS)) await admin.call('ACL', 'SETUSER', ...words)
  })
  beforeEach(async () => {
    // The users as documented (a test may have changed one).
    for (const words of Object.values(USERS)) await admin.call('ACL', 'SETUSER', ...words)
    await admin.flushall()
    await admin.call('ACL', 'LOG', 'RESET')
  })
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((c) => (c instanceof Redis ? c.disconnect() : c.close())))
  })
  after(async () => {
    admin?.disconnect()
    await server?.stop()
    certs?.remove()
  })

  describe('the server', () => {
    it('refuses plain TCP clients and TLS clients without a certificate', async () => {
      const oneTry = { maxRetriesPerRequest: 0, retryStrategy: () => null }
      const plain = new Redis({ host: '127.0.0.1', port: server.port, ...oneTry })
      const anonymous = new Redis({ host: '127.0.0.1', port: server.port, tls: { ca: certs.ca }, ...oneTry })
      opened.push(plain, anonymous)
      plain.on('error', () => {})
      anonymous.on('error', () => {})
      expect(await rejectionOf(plain.ping())).to.be.an('error')
      expect(await rejectionOf(anonymous.ping())).to.be.an('error')
      expect(await raw('app').get('app:nothing')).to.equal(null)
    })
  })

  for (const client of specClients({ resp2: true, iovalkey: true })) {
    /** node-redis on RESP2 runs what is about tracking only; the rest is the same as on RESP3. */
    const everything = client.resp !== 2
    /**
     * What the bus-only user is refused when it asks for tracking: node-redis on RESP3 sends
     * `CLIENT TRACKING` in its connection's handshake; the others subscribe to the
     * invalidation channel first.
     */
    const refused = client.resp === 3 ? { reason: 'command', object: 'client|tracking' } : { reason: 'channel', object: '__redis__:invalidate' }
    describe(`on ${client.name}`, () => {
      const flows: [User, 'tracking' | 'bus'][] = [['app', 'tracking'], ['app', 'bus'], ['appbus', 'bus']]
      for (const [user, coherence] of flows.filter(([, mode]) => everything || mode === 'tracking')) {
        describe(`the memoize flow as ${user} (the documented ${tracks(user) ? 'first' : 'second, bus-only'} line), coherence '${coherence}'`, () => {
          it('answers health(), locks, tags, clears, deletes, batches and keeps L1 coherent with no error, no warning and no ACL denial', async () => {
            const a = open(client, user, coherence)
            const b = open(client, user, coherence)
            await Promise.all([a.listening(), b.listening()])
            for (const cache of [a.cache, b.cache]) expect(await cache.health()).to.deep.include({ l2: 'up', coherence })
            let runs = 0
            let release!: () => void
            const gate = new Promise<void>((resolve) => (release = resolve))
            const load = async (id: string) => {
              const run = ++runs
              await gate
              return { id, run, at: new Date(Date.UTC(2024, 1, 29)), roles: new Set(['admin']), big: 2n ** 70n }
            }
            const fa = memoize(load, { cache: a.cache, name: 'load', tags: ([id]) => [`user:${id}`] })
            const fb = memoize(load, { cache: b.cache, name: 'load', tags: ([id]) => [`user:${id}`] })

            // Lock: a computes, b (an L2 miss) waits for a's value; a renews its lock meanwhile.
            const pa = fa('42')
            await until(async () => runs === 1, 'a to take the lock and start computing')
            const lockWait = new Promise<void>((resolve) => b.cache.on('lock-wait', () => resolve()))
            const pb = fb('42')
            await lockWait
            const lockKey = coreOf(a.cache).layout.lockKey(fa.keyFor('42'))
            let last = await admin.pttl(lockKey)
            expect(last).to.be.above(0)
            await until(async () => {
              const now = await admin.pttl(lockKey)
              const renewed = now > last
              last = now
              return renewed
            }, 'the lock to be renewed (PEXPIRE in Lua)')
            release()
            const [va, vb] = await Promise.all([pa, pb])
            expect(runs).to.equal(1)
            expect(vb).to.deep.equal(va)
            expect(vb.at).to.be.an.instanceOf(Date)
            expect(vb.roles).to.be.an.instanceOf(Set)
            expect(vb.big).to.equal(2n ** 70n)
            expect(b.cache.stats()).to.include({ lockWaits: 1, lockTimeouts: 0 })
            expect(await admin.exists(lockKey)).to.equal(0)

            // Tags: a invalidates, b's L1 copy goes, b recomputes, a gets b's value from L2.
            await a.cache.invalidateTags(['user:42'])
            await until(async () => (await fb.peek('42')) === undefined, "b to hear of the tag's invalidation")
            expect((await fb('42')).run).to.equal(2)
            expect((await fa('42')).run).to.equal(2)

            // clear(): b clears the function, a's L1 copy goes.
            await fb.clear()
            await until(async () => (await fa.peek('42')) === undefined, 'a to hear of the clear')
            expect((await fa('42')).run).to.equal(3)
            expect(runs).to.equal(3)

            // Plain keys: a rewrites and deletes, b's L1 follows.
            await a.cache.set('greeting', 'hello')
            expect(await b.cache.get('greeting')).to.equal('hello')
            await a.cache.set('greeting', 'hi')
            await until(async () => (await b.cache.get('greeting')) === 'hi', "b's L1 to drop the old greeting")
            await a.cache.delete('greeting')
            await until(async () => (await b.cache.get('greeting')) === undefined, "b's L1 to drop the deleted greeting")

            // Batches: a computes two keys (MGET, then the lock and fill scripts for both), b reads them with one MGET.
            expect(await a.cache.getOrSetMany(['m:1', 'm:2'], (keys) => keys.map((key) => `${key}!`))).to.deep.equal(['m:1!', 'm:2!'])
            expect(await b.cache.getMany(['m:1', 'm:2', 'm:3'])).to.deep.equal(['m:1!', 'm:2!', undefined])

            expect([coreOf(a.cache).coherence?.mode, coreOf(b.cache).coherence?.mode]).to.deep.equal([coherence, coherence])
            for (const cache of [a.cache, b.cache]) {
              expect(await cache.health()).to.deep.include({ l2: 'up', coherence })
              expect(cache.stats().circuit).to.equal('closed')
            }
            expect([...a.errors, ...b.errors].map((e) => messages(e.error))).to.deep.equal([])
            expect([...a.warnings, ...b.warnings].map((w) => w.error.message)).to.deep.equal([])
            expect(await denials()).to.deep.equal([])
          })
        })
      }

      describe('the second line (no tracking) with coherence left at its default', () => {
        it(`falls back to the bus with one warning, no error, and the refused ${refused.reason} as the only ACL denial`, async () => {
          const a = open(client, 'appbus', undefined)
          const b = open(client, 'appbus', undefined)
          await Promise.all([a.listening(), b.listening()])
          expect([coreOf(a.cache).coherence?.mode, coreOf(b.cache).coherence?.mode]).to.deep.equal(['bus', 'bus'])
          for (const cache of [a.cache, b.cache]) expect(await cache.health()).to.deep.include({ l2: 'up', coherence: 'bus' })
          await a.cache.set('greeting', 'hello')
          expect(await b.cache.get('greeting')).to.equal('hello')
          await a.cache.set('greeting', 'hi')
          await until(async () => (await b.cache.get('greeting')) === 'hi', "b's L1 to hear of a's write over the bus")
          await b.cache.invalidateTags(['t'])
          expect([...a.errors, ...b.errors].map((e) => messages(e.error))).to.deep.equal([])
          for (const { warnings } of [a, b]) {
            expect(warnings.map((w) => w.error.message)).to.have.length(1)
            expect(warnings[0]?.error.message).to.match(/client tracking unavailable .*NOPERM.*falls back to the bus/)
          }
          const denied = await denials()
          expect(denied.length).to.be.within(1, 2)
          for (const d of denied) expect(d).to.deep.equal({ ...refused, username: 'appbus' })
        })
      })

      if (!everything) return

      describe('health() under the ACL', () => {
        it('never opens the circuit when the probe is refused, and reports each refusal as an error event', async () => {
          const cache = open(client, 'notime', 'bus')
          await cache.listening()
          // Started with TIME (the clock and the floors need it); from now on TIME is refused.
          await coreOf(cache.cache).l2?.whenStarted()
          await admin.call('ACL', 'SETUSER', 'notime', '-time')
          cache.errors.splice(0)
          let opened = 0
          cache.cache.on('circuit-open', () => opened++)
          for (let i = 0; i < 7; i++) expect((await cache.cache.health()).l2).to.equal('down')
          expect(cache.cache.stats().circuit).to.equal('closed')
          expect(opened).to.equal(0)
          expect(cache.errors).to.have.length(7)
          for (const e of cache.errors) {
            expect(e.error).to.be.an.instanceOf(RedisError)
            expect(e.tier).to.equal('l2')
            expect(messages(e.error)).to.match(/NOPERM/)
          }
          // The read path's breaker did not move: the next read is sent, and answered.
          expect(await cache.cache.get('k')).to.equal(undefined)
          expect(cache.cache.stats().l2.misses).to.equal(1)
          expect(cache.errors).to.have.length(7)
        })
      })

      describe('another prefix, another user', () => {
        it("refuses the other user GET, SET, DEL, EVAL and PUBLISH on the first one's keys and bus (NOPERM)", async () => {
          const app = open(client, 'app', 'tracking')
          await app.cache.set('secret', { card: '4111 1111 1111 1111' })
          const key = 'app:default:secret'
          const before = await admin.getBuffer(key)
          expect(before).to.be.an.instanceOf(Buffer)
          const other = raw('other')
          for (const attempt of [
            other.get(key),
            other.set(key, 'planted'),
            other.del(key),
            other.eval("return redis.call('get', KEYS[1])", 1, key),
            other.publish('app:!bus', JSON.stringify({ o: 'x', k: [key] })),
          ]) {
            expect((await rejectionOf(attempt)).message).to.match(/NOPERM/)
          }
          expect(await admin.getBuffer(key)).to.deep.equal(before)
          const denied = await denials()
          expect(denied).to.have.length.above(0)
          for (const d of denied) {
            expect(d.username).to.equal('other')
            expect(d.object).to.match(/^app:/)
          }
        })

        it("a cache with prefix 'app' logged in as other gets errors and its own function's values, never app's", async () => {
          const app = open(client, 'app', 'tracking')
          await app.listening()
          expect(await app.cache.getOrSet('report', () => 'app value')).to.equal('app value')
          const appLoad = memoize(async (id: string) => `app:${id}`, { cache: app.cache, name: 'load' })
          expect(await appLoad('1')).to.equal('app:1')

          const intruder = open(client, 'other', 'tracking')
          expect(await intruder.cache.getOrSet('report', () => 'intruder value')).to.equal('intruder value')
          const intruderLoad = memoize(async (id: string) => `intruder:${id}`, { cache: intruder.cache, name: 'load' })
          expect(await intruderLoad('1')).to.equal('intruder:1')
          expect(await rejectionOf(intruder.cache.clear())).to.be.an.instanceOf(RedisError)
          expect(intruder.errors).to.have.length.above(0)
          expect(intruder.errors.every((e) => e.error instanceof RedisError)).to.equal(true)
          expect(intruder.errors.some((e) => /NOPERM/.test(messages(e.error)))).to.equal(true)

          // app's entries are untouched and still valid: a fresh app cache reads them from L2.
          const fresh = open(client, 'app', 'tracking')
          expect(await fresh.cache.get('report')).to.equal('app value')
          expect(await memoize(async (id: string) => `recomputed:${id}`, { cache: fresh.cache, name: 'load' })('1')).to.equal('app:1')
          expect([...app.errors, ...fresh.errors]).to.deep.equal([])
        })

        it("keeps each user to its own prefix both ways: other's cache works, app cannot read it", async () => {
          const other = open(client, 'other', 'tracking', 'other')
          await other.listening()
          expect(await other.cache.getOrSet('report', () => 'other value')).to.equal('other value')
          expect(other.errors).to.deep.equal([])
          expect(await admin.exists('other:default:report')).to.equal(1)
          expect((await rejectionOf(raw('app').get('other:default:report'))).message).to.match(/NOPERM/)
        })
      })
    })
  }

  describe('a rediss:// URL', () => {
    it('works through a template client made with lazyConnect and tls options (the template never connects)', async () => {
      const url = `rediss://app:${passwordOf('app')}@127.0.0.1:${server.port}`
      const template = new Redis(url, { tls: connection().tls, lazyConnect: true })
      opened.push(template)
      const errors: CacheEvents['error'][] = []
      const [a, b] = [createCache({ redis: template, prefix: 'app' }), createCache({ redis: template, prefix: 'app' })]
      opened.push(a, b)
      for (const cache of [a, b]) cache.on('error', (e) => errors.push(e))
      let runs = 0
      expect(await a.getOrSet('k', () => ++runs)).to.equal(1)
      expect(await b.getOrSet('k', () => ++runs)).to.equal(1)
      expect(b.stats().l2.hits).to.equal(1)
      expect(template.status).to.equal('wait')
      expect(errors).to.deep.equal([])
    })
  })

  describe('the Security docs', () => {
    it('give two ACL lines: the first for any coherence mode (with tracking), the second for the bus only', () => {
      expect(DOCUMENTED).to.have.length(2)
      expect([tracks('app'), tracks('appbus')]).to.deep.equal([true, false])
    })
  })
})

function pairs(flat: unknown[]): [string, unknown][] {
  const out: [string, unknown][] = []
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([String(flat[i]), flat[i + 1]])
  return out
}

/** The error `promise` rejects with; fails if it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (error) {
    return error as Error
  }
  throw new Error('expected a rejection')
}

/** An error's message and its causes' messages. */
function messages(error: unknown): string {
  const parts: string[] = []
  for (let e = error; e instanceof Error; e = e.cause) parts.push(e.message)
  return parts.join(' <- ')
}

/** Polls `check` every 5ms until it holds (at most 3s): for effects that arrive over Redis. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 3000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
