import { expect } from 'chai'
import { rmSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import ts from 'typescript'
import { createCache, DuplicateNameError, InvalidOptionError, Memoize, memoized, type Cache } from 'memoredis'
import { useRedis } from '../support/redis.ts'

/**
 * The @Memoize decorator, compiled for real: spec/fixtures/decorators/users.ts is
 * type-checked and emitted by the TypeScript compiler once with TC39 standard
 * decorators and once with legacy `experimentalDecorators`, and the output is imported
 * and exercised the same way in both modes.
 *
 * Mocha loads this spec through tsx's CommonJS hook, while the emitted fixture is an ES
 * module: each gets its own copy of memoredis. The specs below use the fixture's copy
 * (`lib`, imported as ESM the way the fixture imports it) for anything that meets it.
 */

const root = fileURLToPath(new URL('../../', import.meta.url))
const fixture = `${root}spec/fixtures/decorators/users.ts`

type Fixture = typeof import('../fixtures/decorators/users.ts')
type Defined = ReturnType<Fixture['define']>

/** Type-checks and compiles the fixture into a git-ignored folder of its own; returns the emitted module's path and the type errors. */
function compile(mode: 'tc39' | 'legacy'): { out: string; module: string; errors: string[] } {
  const config = ts.getParsedCommandLineOfConfigFile(`${root}tsconfig.json`, {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'))
    },
  })
  if (config === undefined) throw new Error('cannot read tsconfig.json')
  // Under the package folder, so that `import 'memoredis'` resolves as it does for a user.
  const out = `${root}spec/fixtures/decorators/out-${mode}-${process.pid}`
  const options: ts.CompilerOptions = {
    ...config.options,
    noEmit: false,
    rootDir: root,
    outDir: out,
    declaration: false,
    sourceMap: false,
    types: ['node'],
    experimentalDecorators: mode === 'legacy',
  }
  const program = ts.createProgram([fixture], options)
  const source = program.getSourceFile(fixture)
  if (source === undefined) throw new Error('fixture not found')
  const errors = ts.getPreEmitDiagnostics(program, source).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
  const emitted = program.emit(source)
  if (emitted.emitSkipped) throw new Error(`emit skipped: ${errors.join('; ')}`)
  return { out, module: `${out}/spec/fixtures/decorators/users.js`, errors }
}

describe('@Memoize, compiled by TypeScript', () => {
  const compiled: Partial<Record<'tc39' | 'legacy', { module: Fixture; errors: string[] }>> = {}
  let lib: typeof import('memoredis')

  before(async function () {
    this.timeout(60_000)
    lib = await import('memoredis')
    for (const mode of ['tc39', 'legacy'] as const) {
      const { out, module, errors } = compile(mode)
      try {
        compiled[mode] = { module: (await import(pathToFileURL(module).href)) as Fixture, errors }
      } finally {
        rmSync(out, { recursive: true, force: true })
      }
    }
  })

  function fixtureOf(mode: 'tc39' | 'legacy'): { module: Fixture; errors: string[] } {
    const found = compiled[mode]
    if (found === undefined) throw new Error(`the ${mode} fixture did not compile`)
    return found
  }

  for (const mode of ['tc39', 'legacy'] as const) {
    describe(`@Memoize under ${mode === 'tc39' ? 'TC39 standard decorators' : 'legacy experimentalDecorators'}`, () => {
      let cache: Cache
      let d: Defined
      beforeEach(() => {
        cache = lib.createCache({ prefix: 'deco' })
        d = fixtureOf(mode).module.define(cache)
      })
      afterEach(() => cache.close())

      it('type-checks the decorated class, a key that reads this, and memoized(), without a single error', () => {
        expect(fixtureOf(mode).errors).to.deep.equal([])
      })

      it('keys by class, method and arguments, not this: two instances share one run', async () => {
        const a = new d.Users('acme')
        const b = new d.Users('globex')
        expect(await a.find('1')).to.deep.equal({ id: '1', by: 'acme' })
        expect(await b.find('1')).to.deep.equal({ id: '1', by: 'acme' })
        expect(await b.find('2')).to.deep.equal({ id: '2', by: 'globex' })
        expect(d.runs).to.deep.equal(['find acme 1', 'find globex 2'])
        expect(lib.memoized(a, 'find').keyFor('1')).to.equal('deco:default!Users.find:v1:s1:1')
      })

      it('runs the method with the instance as this and keeps its name and length', async () => {
        const a = new d.Users('acme')
        expect(a.find.name).to.equal('find')
        expect(a.find.length).to.equal(1)
        expect(await a.byTenant('7')).to.deep.equal({ id: '7', by: 'acme' })
      })

      it('keys by what a key function returns when it reads this', async () => {
        const a = new d.Users('acme')
        const a2 = new d.Users('acme')
        const b = new d.Users('globex')
        await a.byTenant('1')
        await a2.byTenant('1')
        expect(await b.byTenant('1')).to.deep.equal({ id: '1', by: 'globex' })
        expect(d.runs).to.deep.equal(['byTenant acme 1', 'byTenant globex 1'])
        expect(lib.memoized(b, 'byTenant').keyFor('1')).to.equal('deco:default!Users.byTenant:v1:(s6:globexs1:1)')
      })

      it('keys a static method by its class, and calls it with the class as this', async () => {
        expect(await d.Users.count(2)).to.equal(4)
        expect(await d.Users.count(2)).to.equal(4)
        expect(d.runs).to.deep.equal(['count 2'])
        expect(lib.memoized(d.Users, 'count').keyFor(2)).to.equal('deco:default!Users.count:v1:d2;')
        await cache.invalidateTags(['count:2'])
        expect(await d.Users.count(2)).to.equal(4)
        expect(d.runs).to.deep.equal(['count 2', 'count 2'])
      })

      it('shares entries between a subclass and the class that declares the method', async () => {
        await new d.Users('acme').find('1')
        expect(await new d.Admins('root').find('1')).to.deep.equal({ id: '1', by: 'acme' })
        expect(d.runs).to.deep.equal(['find acme 1'])
        expect(lib.memoized(new d.Admins('root'), 'find').keyFor('1')).to.equal('deco:default!Users.find:v1:s1:1')
      })

      it('uses an explicit name and version in keys', () => {
        expect(lib.memoized(d.Users.prototype, 'list').keyFor()).to.equal('deco:default!users-list:v3:')
      })

      it('invalidates, peeks, refreshes and clears a method through memoized(instance, name)', async () => {
        const a = new d.Users('acme')
        const find = lib.memoized(a, 'find')
        expect(await find.peek('1')).to.equal(undefined)
        await a.find('1')
        await a.find('2')
        expect(await find.peek('1')).to.deep.equal({ id: '1', by: 'acme' })
        expect(await d.typed(a)).to.deep.equal({ id: '1', by: 'acme' })
        await find.invalidate('1')
        expect(await find.peek('1')).to.equal(undefined)
        await a.find('1')
        await a.find('2')
        expect(d.runs).to.deep.equal(['find acme 1', 'find acme 2', 'find acme 1'])
        expect(await lib.memoized(new d.Users('initech'), 'find').refresh('2')).to.deep.equal({ id: '2', by: 'initech' })
        expect(await a.find('2')).to.deep.equal({ id: '2', by: 'initech' })
        await find.clear()
        expect(await find.peek('1')).to.equal(undefined)
        expect(await find.peek('2')).to.equal(undefined)
        expect(find.cache).to.equal(cache)
      })

      it('binds memoized(instance, name) to that instance for a key that reads this', async () => {
        const a = new d.Users('acme')
        const b = new d.Users('globex')
        await a.byTenant('1')
        await b.byTenant('1')
        await lib.memoized(a, 'byTenant').invalidate('1')
        expect(await lib.memoized(a, 'byTenant').peek('1')).to.equal(undefined)
        expect(await lib.memoized(b, 'byTenant').peek('1')).to.deep.equal({ id: '1', by: 'globex' })
        expect(await lib.memoized(b, 'byTenant')('1')).to.deep.equal({ id: '1', by: 'globex' })
      })

      it('refuses a second live class of the same name and method in one cache, when the class is defined', () => {
        // Legacy decorators see the class; under TC39 the method named explicitly clashes at once.
        expect(() => fixtureOf(mode).module.define(cache)).to.throw(
          lib.DuplicateNameError,
          mode === 'legacy' ? /"Users\.find"/ : /"users-list"/,
        )
      })
    })
  }

  describe('@Memoize in both modes', () => {
    it('gives the same keys under TC39 and legacy decorators', async () => {
      const keys = ['tc39', 'legacy'].map((mode) => {
        const cache = lib.createCache({ prefix: 'same' })
        const { Users } = fixtureOf(mode as 'tc39' | 'legacy').module.define(cache)
        const users = new Users('acme')
        return [lib.memoized(users, 'find').keyFor('x'), lib.memoized(users, 'byTenant').keyFor('x'), lib.memoized(Users, 'count').keyFor(1)]
      })
      expect(keys[0]).to.deep.equal(keys[1])
    })

    describe('with Redis', () => {
      const redis = useRedis()

      it('shares a decorated method\'s values between a TC39 class and a legacy class in two caches', async () => {
        const one = lib.createCache({ redis: redis.url, prefix: 'both' })
        const two = lib.createCache({ redis: redis.url, prefix: 'both' })
        try {
          const tc39 = fixtureOf('tc39').module.define(one)
          const legacy = fixtureOf('legacy').module.define(two)
          expect(await new tc39.Users('acme').find('9')).to.deep.equal({ id: '9', by: 'acme' })
          expect(await new legacy.Users('globex').find('9')).to.deep.equal({ id: '9', by: 'acme' })
          expect(legacy.runs).to.deep.equal([])
          expect(await redis.client.exists('both:default!Users.find:v1:s1:9')).to.equal(1)
        } finally {
          await Promise.all([one.close(), two.close()])
        }
      })
    })
  })
})

describe('Memoize used wrongly', () => {
  it('refuses a field, a getter or an unknown option with InvalidOptionError', () => {
    const decorator = Memoize({}) as unknown as (value: unknown, context: unknown, descriptor?: unknown) => unknown
    expect(() => decorator(undefined, { kind: 'field', name: 'x' })).to.throw(InvalidOptionError, /methods only/)
    expect(() => decorator({}, 'x', { get: () => 1 })).to.throw(InvalidOptionError, /methods only/)
    expect(() => Memoize({ tll: '5m' } as never)).to.throw(InvalidOptionError, /no option "tll"/)
  })

  it('refuses a cache that is not one when the decorator is made, not at the first call', () => {
    expect(() => Memoize({ cache: {} as never })).to.throw(InvalidOptionError, /^Memoize: cache must be a cache made by createCache\(\), got an object$/)
  })

  it('asks for a name on a private method, whose class cannot be found', () => {
    const decorator = Memoize({}) as unknown as (value: unknown, context: unknown) => unknown
    expect(() => decorator(async () => 1, { kind: 'method', name: '#find', private: true, static: false })).to.throw(
      InvalidOptionError,
      /private method #find needs \{ name \}/,
    )
  })

  it('rejects the first call of a TC39-decorated method whose class name clashes, with DuplicateNameError', async () => {
  const cache = createCache()
  const define = (): { find(id: string): Promise<unknown> } => {
    class Users {}
    // What TC39 decorators do with a method: the decorator returns its replacement.
    const decorate = Memoize({ cache }) as unknown as (value: unknown, context: unknown) => unknown
    const find = decorate(async (id: string) => id, { kind: 'method', name: 'find', private: false, static: false })
    Object.defineProperty(Users.prototype, 'find', { value: find })
    return new Users() as { find(id: string): Promise<unknown> }
  }
  const first = define()
  const second = define()
  expect(await first.find('1')).to.equal('1')
  const error: unknown = await second.find('1').then(() => undefined, (e: unknown) => e)
  expect(error).to.be.instanceOf(DuplicateNameError)
  expect((error as DuplicateNameError).code).to.equal('ERR_DUPLICATE_NAME')
  expect(memoized(first, 'find').keyFor('1')).to.equal('memoredis:default!Users.find:v1:s1:1')
  await cache.close()
})

it('refuses memoized() on a method that is not memoized', () => {
    class Plain {
      async find(): Promise<number> {
        return 1
      }
    }
    expect(() => memoized(new Plain(), 'find')).to.throw(InvalidOptionError, /find is not a memoized function/)
  })
})
