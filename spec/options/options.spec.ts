import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { createCache, InvalidOptionError, type Cache } from '../../lib/index.ts'
import { coreOf } from '../support/internals.ts'

/**
 * Options as they come from configuration: environment variables that are unset or
 * empty, and strings typed as `string`. A security setting never falls to its weakest
 * state by an absent value; an empty `REDIS_URL` is no Redis, as an unset one; a
 * duration read from the environment typechecks and is checked when the cache is made.
 */

const root = fileURLToPath(new URL('../../', import.meta.url))

/** Type errors of `source`, compiled as a module under spec/ with the project's settings (strict). */
function typeErrors(source: string): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(`${root}tsconfig.json`, {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'))
    },
  })
  if (config === undefined) throw new Error('cannot read tsconfig.json')
  const file = `${root}spec/options/snippet-${process.pid}.ts`
  const host = ts.createCompilerHost(config.options)
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (name, version, ...rest) =>
    name === file ? ts.createSourceFile(name, source, version) : getSourceFile(name, version, ...rest)
  const fileExists = host.fileExists.bind(host)
  host.fileExists = (name) => name === file || fileExists(name)
  const program = ts.createProgram([file], { ...config.options, noEmit: true, types: ['node'] }, host)
  const sourceFile = program.getSourceFile(file)
  if (sourceFile === undefined) throw new Error('snippet not found')
  return ts.getPreEmitDiagnostics(program, sourceFile).map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' '))
}

describe('options from configuration', () => {
  const caches: Cache[] = []
  const made = (cache: Cache): Cache => {
    caches.push(cache)
    return cache
  }
  afterEach(async () => {
    await Promise.all(caches.splice(0).map((cache) => cache.close()))
  })

  describe('signingKey', () => {
    const unset: Record<string, string | undefined> = {}

    it('refuses a signingKey given but undefined (an unset variable), saying how to run unsigned on purpose', () => {
      expect(() => createCache({ signingKey: unset.MEMOREDIS_SIGNING_KEY })).to.throw(
        InvalidOptionError,
        /^createCache: signingKey is undefined, as when the variable that should hold it is unset: values would go unsigned\. .*signingKey: false \(or without the option\)$/,
      )
    })

    it('refuses an empty signingKey, and an undefined or empty one in a rotation list', () => {
      expect(() => createCache({ signingKey: '' })).to.throw(InvalidOptionError, /signingKey is empty, .*signingKey: false/)
      expect(() => createCache({ signingKey: Buffer.alloc(0) })).to.throw(InvalidOptionError, /signingKey is empty/)
      const key = 'k'.repeat(32)
      expect(() => createCache({ signingKey: [key, unset.OLD_KEY] as string[] })).to.throw(InvalidOptionError, /signingKey\[1\] is undefined/)
      expect(() => createCache({ signingKey: ['', key] })).to.throw(InvalidOptionError, /signingKey\[0\] is empty/)
    })

    it('runs unsigned when signingKey is false or left out, and signs with a key', () => {
      expect(coreOf(made(createCache({ signingKey: false }))).options.signingKeys).to.deep.equal([])
      expect(coreOf(made(createCache({}))).options.signingKeys).to.deep.equal([])
      const key = 'k'.repeat(32)
      expect(coreOf(made(createCache({ signingKey: unset.MEMOREDIS_SIGNING_KEY ?? key }))).options.signingKeys).to.deep.equal([Buffer.from(key)])
    })
  })

  describe('redis', () => {
    it('runs on L1 alone with an empty or blank redis URL (REDIS_URL= in a .env file), as with none', async () => {
      for (const url of ['', ' ', '\t\n']) {
        const cache = made(createCache({ redis: url }))
        expect(coreOf(cache).l2, JSON.stringify(url)).to.equal(undefined)
        let runs = 0
        expect(await cache.getOrSet('k', () => ++runs)).to.equal(1)
        expect(await cache.getOrSet('k', () => ++runs)).to.equal(1)
        expect((await cache.health()).l2).to.equal('none')
      }
    })

    it('still refuses a string that is not a redis URL', () => {
      expect(() => createCache({ redis: 'localhost:6379' })).to.throw(InvalidOptionError, /redis URL must start with redis:\/\/ or rediss:\/\//)
    })
  })

  describe('Duration', () => {
    it('typechecks durations read from configuration or kept in a variable, and still refuses other types', function () {
      this.timeout(60_000)
      const errors = typeErrors(`
        import { createCache, memoize, type CacheOptions } from '../../lib/index.ts'
        const ttl: string = process.env.CACHE_TTL ?? '5m'
        createCache({ ttl: process.env.CACHE_TTL ?? '5m', grace: ttl, lock: { wait: ttl } })
        const options = { ttl: '5m', redisTimeout: '200ms', circuit: { resetAfter: '2s' } }
        createCache(options)
        const typed: CacheOptions = { ttl: 300_000, connectWait: '1s' }
        memoize(async (id: string) => id, { name: 'f', ttl, timeout: { soft: ttl } })
        void typed
        // @ts-expect-error a boolean is not a duration
        createCache({ ttl: true })
        // @ts-expect-error nor is an object
        createCache({ ttl: { minutes: 5 } })
      `)
      expect(errors).to.deep.equal([])
    })

    it('refuses a string that is not a duration when the cache is made, with the error the docs show', () => {
      expect(() => createCache({ ttl: '5 minutes' })).to.throw(
        InvalidOptionError,
        `createCache: ttl must be a positive duration like '5m' or 300000 (ms; units ms, s, m, h, d), got "5 minutes"`,
      )
      const guide = readFileSync(new URL('../../docs/options.md', import.meta.url), 'utf8')
      const shown = /e\.g\.\s+`(createCache: ttl must be [^`]+)`/.exec(guide)?.[1]?.replace(/\s+/g, ' ')
      expect(shown).to.be.a('string')
      expect(() => createCache({ ttl: -1 })).to.throw(InvalidOptionError, shown)
    })
  })
})
