import { expect } from 'chai'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Lock } from '../support/lockfile.ts'
import { CJS, CLIENT_APPS, NODE_REDIS_APP, CLIENT_RUN, CONSUMER, ESM, INTERNAL, ioredisLikeApp, IOREDIS5_APP, LOADS, MAIN_APP, NO_CLIENT_APP, NO_CLIENT_RUN } from '../support/package-consumers.ts'
import { useRedis } from '../support/redis.ts'
import { appManifest, describeDependencyErrors, installApp, installedVersion, ok, pack, ROOT, run, typecheck, type Diagnostics } from '../support/package-app.ts'

/**
 * The package as a new user gets it: `npm pack` on a clean copy of the repository (its
 * tracked files, with our dev tools linked in to build), the tarball installed with npm
 * into an empty app, then used from ESM, from CommonJS and from strict TypeScript. The
 * apps get exactly the versions package-lock.json pins (spec/support/package-app.ts), so
 * the verdict does not depend on what the registry serves today; `npm run check:latest`
 * runs the same apps against the newest versions.
 */

/** Every file under `dir`, relative to it. */
function walk(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name), `${prefix}${entry.name}/`) : [`${prefix}${entry.name}`],
  )
}

/** Prints, without failing, the errors tsc found inside other packages' own declarations. */
function report(diagnostics: Diagnostics): void {
  for (const line of describeDependencyErrors(diagnostics)) console.log(`      note: not ours: ${line}`)
}

describe('the npm package', function () {
  // npm pack builds (tsc) and npm installs the tarball: tens of seconds on a busy machine.
  this.timeout(240_000)
  const lock = new Lock(ROOT)
  let work: string
  let app: string
  let packed: string[]
  let installed: string
  let tarball: string
  /** The other apps' installs, by folder name: started together with the main app's, each awaited by the test that uses it. */
  const installs = new Map<string, Promise<string>>()
  const appDir = (name: string): Promise<string> => installs.get(name) ?? Promise.reject(new Error(`no app ${name}`))
  /** The typecheck of each app's `app.ts` (below), one at a time beside the tests, from the end of its install. */
  const APP_FILES: Record<string, string> = { app5: ioredisLikeApp('ioredis'), 'only-ioredis': ioredisLikeApp('ioredis'), 'only-iovalkey': ioredisLikeApp('iovalkey'), 'only-redis': NODE_REDIS_APP }
  const checks = new Map<string, Promise<Diagnostics>>()
  let checking: Promise<unknown> = Promise.resolve()
  const appTypes = (name: string): Promise<Diagnostics> => checks.get(name) ?? Promise.reject(new Error(`no typecheck of ${name}`))

  before(async function () {
    this.timeout(240_000)
    work = mkdtempSync(join(tmpdir(), 'memoredis-pack-'))
    app = join(work, 'app')
    ;({ tarball, files: packed } = await pack(work))
    const others: [string, readonly string[]][] = [['app5', IOREDIS5_APP], ...Object.entries(CLIENT_APPS).map(([library, dependencies]): [string, readonly string[]] => [`only-${library}`, dependencies]), ['no-client', NO_CLIENT_APP]]
    for (const [name, dependencies] of others) {
      const dir = join(work, name)
      const done = installApp({ dir, tarball, dependencies, versions: 'locked' }).then(() => dir)
      // Its test awaits it and fails with its error; until then it must not count as unhandled.
      done.catch(() => {})
      installs.set(name, done)
      const source = APP_FILES[name]
      if (source === undefined) continue
      const check = Promise.all([done, checking.catch(() => {})]).then(([dir]) => {
        writeFileSync(join(dir, 'app.ts'), source)
        return typecheck(dir, ['app.ts'])
      })
      check.catch(() => {})
      checks.set(name, check)
      checking = check
    }
    await installApp({ dir: app, tarball, dependencies: MAIN_APP, versions: 'locked' })
    installed = join(app, 'node_modules', 'memoredis')
  })

  after(async () => {
    await Promise.allSettled([...installs.values(), ...checks.values()])
    if (work !== undefined) rmSync(work, { recursive: true, force: true })
  })

  it('ships the built dist/ (ESM and declarations) and the sources, with the license and README, nothing from spec/ or bench/', () => {
    for (const file of ['package.json', 'LICENSE', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/http/express.js', 'dist/http/express.d.ts', 'dist/http/koa.js', 'dist/http/koa.d.ts', 'dist/http/fastify.js', 'dist/http/fastify.d.ts', 'dist/nestjs/index.js', 'dist/nestjs/index.d.ts', 'dist/otel/index.js', 'dist/otel/index.d.ts']) {
      expect(packed, file).to.include(file)
    }
    expect(packed.filter((f) => /^(spec|bench|examples|\.ci)\//.test(f))).to.deep.equal([])
  })

  it('declares every Redis client an optional peer dependency, so that npm installs none of them for the app', () => {
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as Record<string, Record<string, unknown>>
    for (const client of Object.keys(CLIENT_APPS)) {
      expect(manifest.peerDependencies?.[client], client).to.be.a('string')
      expect(manifest.peerDependenciesMeta?.[client], client).to.deep.equal({ optional: true })
      expect(manifest.dependencies?.[client], client).to.equal(undefined)
    }
    expect(manifest.peerDependencies?.ioredis).to.equal('^5 || ^6')
    expect(manifest.engines?.node).to.equal('>=20.19')
    // The main app named ioredis itself: it is there, at the locked version, and nothing else is.
    expect(installedVersion(app, 'ioredis')).to.equal(lock.pinned('ioredis').version)
    expect(installedVersion(app, 'iovalkey')).to.equal(undefined)
  })

  it('gives the app exactly the lockfile’s versions: its dependencies, memoredis’s own, and what they need in turn', () => {
    const { pins } = lock.closure([...MAIN_APP, 'lru-cache', 'superjson', 'p-limit', 'fastify-plugin'])
    // Enough of the tree to mean something: the peers, the frameworks' types, the transitive ones.
    expect(Object.keys(pins)).to.include.members(['ioredis', '@ioredis/commands', 'redis-errors', 'fastify', '@types/node', 'undici-types', 'superjson', 'copy-anything'])
    const moved = Object.entries(pins).filter(([name, version]) => installedVersion(app, name) !== version)
    expect(moved.map(([name, version]) => `${name}: locked ${version}, installed ${installedVersion(app, name) ?? 'none'}`)).to.deep.equal([])
  })

  it('writes no range into the app: each dependency exact, everything else pinned through overrides', () => {
    const manifest = appManifest({ tarball, dependencies: MAIN_APP, versions: 'locked' }) as { dependencies: Record<string, string>; overrides: Record<string, string> }
    const versions = [...Object.entries(manifest.dependencies).filter(([name]) => name !== 'memoredis'), ...Object.entries(manifest.overrides)]
    expect(versions.filter(([, version]) => !/^\d+\.\d+\.\d+(?:-[\w.]+)?$/.test(version))).to.deep.equal([])
    expect(manifest.dependencies.ioredis).to.equal(lock.pinned('ioredis').version)
    expect(manifest.overrides.superjson).to.equal(lock.pinned('superjson').version)
  })

  it('is imported as ESM (memoredis, memoredis/express, memoredis/koa, memoredis/fastify) and memoizes with an L1-only cache', async () => {
    writeFileSync(join(app, 'esm.mjs'), ESM)
    const result = ok(await run(process.execPath, ['esm.mjs'], app), 'the ESM app')
    expect(JSON.parse(result.stdout)).to.deep.equal({ first: 144, second: 144, runs: 1, express: 'function', koa: 'function', fastify: 'function' })
  })

  it('loads no framework and no Redis client for memoredis, and no Fastify for memoredis/fastify (its imports of it are types)', async () => {
    writeFileSync(join(app, 'loads.mjs'), LOADS)
    const loaded: Record<string, string[]> = {}
    for (const entry of ['memoredis', 'memoredis/fastify', 'fastify']) {
      loaded[entry] = JSON.parse(ok(await run(process.execPath, ['loads.mjs', entry], app), `loading ${entry}`).stdout) as string[]
    }
    // The last one shows that the check sees Fastify when it is loaded.
    expect(loaded).to.deep.equal({ memoredis: [], 'memoredis/fastify': [], fastify: ['fastify'] })
  })

  it('is required from CommonJS (require(esm), Node 20.19 and later)', async () => {
    writeFileSync(join(app, 'cjs.cjs'), CJS)
    const result = ok(await run(process.execPath, ['cjs.cjs'], app), 'the CommonJS app')
    expect(JSON.parse(result.stdout)).to.deep.equal({ value: 42, error: 'function', express: 'function', koa: 'function', fastify: 'function' })
  })

  /** One tsc run over both consumers (a good one and one that touches an internal). */
  let checked: Promise<Diagnostics> | undefined
  const consumers = (): Promise<Diagnostics> => {
    writeFileSync(join(app, 'consumer.ts'), CONSUMER)
    writeFileSync(join(app, 'internal.ts'), INTERNAL)
    checked ??= typecheck(app, ['consumer.ts', 'internal.ts'])
    return checked
  }

  it('typechecks a strict TypeScript consumer (nodenext, skipLibCheck off) using createCache, memoize, Memoize, expressCache, koaCache and fastifyCache (route config, decorators)', async () => {
    const result = await consumers()
    report(result)
    // Nothing of ours failed: not the consumer, and no error in memoredis's shipped declarations.
    expect(result.ours.filter((line) => !line.startsWith('internal.ts('))).to.deep.equal([])
  })

  it('refuses, in TypeScript, a consumer that touches an internal (cache.core)', async () => {
    const result = await consumers()
    expect(result.code).to.not.equal(0)
    const internal = result.ours.filter((line) => line.startsWith('internal.ts('))
    expect(internal).to.have.length(1)
    expect(internal[0]).to.match(/^internal\.ts\(4,\d+\): error TS2339: Property 'core' does not exist on type 'Cache'/)
  })

  it('reports an error inside another package’s own declarations as that package’s, and fails only on ours', async () => {
    const broken = join(app, 'node_modules', '@scope', 'broken')
    mkdirSync(broken, { recursive: true })
    writeFileSync(join(broken, 'package.json'), JSON.stringify({ name: '@scope/broken', version: '1.0.0', types: 'index.d.ts' }))
    writeFileSync(join(broken, 'index.d.ts'), "import type { Missing } from 'no-such-module'\nexport declare const value: Missing\n")
    writeFileSync(join(app, 'uses-broken.ts'), "import { value } from '@scope/broken'\nexport const same: number = value\nexport const wrong: number = 'text'\n")
    const result = await typecheck(app, ['uses-broken.ts'])
    expect([...result.dependencies.keys()]).to.deep.equal(['@scope/broken'])
    expect(describeDependencyErrors(result)[0]).to.match(/^@scope\/broken's own declarations: 1 error\(s\), e\.g\. node_modules\/@scope\/broken\/index\.d\.ts\(1,30\): error TS2307/)
    expect(result.ours).to.have.length(1)
    expect(result.ours[0]).to.match(/^uses-broken\.ts\(3,14\): error TS2322/)
  })

  it('typechecks an app on ioredis 5 (the lockfile’s) that passes its own Redis, Cluster or options', async () => {
    const app5 = await appDir('app5')
    expect(installedVersion(app5, 'ioredis')).to.equal(lock.pinned('ioredis5').version).and.match(/^5\./)
    expect(existsSync(join(app5, 'node_modules', 'memoredis', 'node_modules', 'ioredis'))).to.equal(false)
    const result = await appTypes('app5')
    report(result)
    expect(result.ours).to.deep.equal([])
  })

  describe('in an app whose only Redis client is one library', () => {
    const redis = useRedis()

    for (const library of Object.keys(CLIENT_APPS)) {
      it(`${library}: loads it only for a cache on Redis, round-trips rich values by URL and by the app's own client, and typechecks`, async () => {
        const dir = await appDir(`only-${library}`)
        const others = Object.keys(CLIENT_APPS).filter((name) => name !== library)
        expect(others.filter((name) => installedVersion(dir, name) !== undefined), 'other clients installed').to.deep.equal([])
        writeFileSync(join(dir, 'run.mjs'), CLIENT_RUN)
        const result = JSON.parse(ok(await run(process.execPath, ['run.mjs', library, redis.url], dir), `the ${library} app`).stdout) as unknown
        expect(result).to.deep.equal({ before: 0, n: 42, date: true, set: true, l2: 'up', ownStatus: 'wait' })
        const types = await appTypes(`only-${library}`)
        report(types)
        expect(types.ours).to.deep.equal([])
      })
    }

    it('with none: an L1-only cache works, and a cache on Redis fails at once with NoRedisClientError naming the packages', async () => {
      const dir = await appDir('no-client')
      writeFileSync(join(dir, 'run.mjs'), NO_CLIENT_RUN)
      const result = JSON.parse(ok(await run(process.execPath, ['run.mjs'], dir), 'the app without a client').stdout) as Record<string, unknown>
      expect(result).to.include({ value: 7, threw: true, code: 'ERR_NO_REDIS_CLIENT' })
      expect(result.packages).to.deep.equal(Object.keys(CLIENT_APPS))
      expect(result.message).to.match(/npm install ioredis, or npm install iovalkey, or npm install redis/)
    })
  })

  it('declares only public names: nothing marked @internal is in the shipped .d.ts files', () => {
    const declarations = walk(join(installed, 'dist')).filter((f) => f.endsWith('.d.ts'))
    expect(declarations).to.include('index.d.ts')
    const leaks = declarations.filter((f) => readFileSync(join(installed, 'dist', f), 'utf8').includes('@internal'))
    expect(leaks).to.deep.equal([])
    const cache = readFileSync(join(installed, 'dist', 'cache.d.ts'), 'utf8')
    for (const member of ['core', 'fresh', 'read', 'peekKey', 'getOrSetResolved']) {
      expect(cache, member).to.not.match(new RegExp(`^\\s+(readonly\\s+)?${member}[(:<]`, 'm'))
    }
  })
})
