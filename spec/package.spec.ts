import { expect } from 'chai'
import { execFile, execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The package as a new user gets it: `npm pack` on a clean copy of the repository (its
 * tracked files, with our dev tools linked in to build), the tarball installed with npm
 * into an empty app, then used from ESM, from CommonJS and from strict TypeScript.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Runs a command to its end (never throws on a non-zero exit: the caller asserts). */
function run(file: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: 'false' } }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1
      resolve({ code, stdout, stderr })
    })
  })
}

/** Fails with the command's output when it did not succeed. */
function ok(result: Run, what: string): Run {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}:\n${result.stdout}\n${result.stderr}`)
  return result
}

/** A copy of the repository's files that git knows (tracked, or new and not ignored), with node_modules linked. */
function cleanCopy(into: string): void {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
  for (const file of listed.split('\0')) {
    if (file === '' || file === 'node_modules' || !existsSync(join(ROOT, file))) continue
    mkdirSync(dirname(join(into, file)), { recursive: true })
    copyFileSync(join(ROOT, file), join(into, file))
  }
  symlinkSync(join(ROOT, 'node_modules'), join(into, 'node_modules'), 'dir')
}

/** Every file under `dir`, relative to it. */
function walk(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name), `${prefix}${entry.name}/`) : [`${prefix}${entry.name}`],
  )
}

const ESM = `import { createCache, memoize } from 'memoredis'
import { expressCache } from 'memoredis/express'
import { koaCache } from 'memoredis/koa'
import { fastifyCache } from 'memoredis/fastify'

const cache = createCache()
let runs = 0
const square = memoize(async (n) => {
  runs++
  return n * n
}, { cache, name: 'square' })
const first = await square(12)
const second = await square(12)
console.log(JSON.stringify({ first, second, runs, express: typeof expressCache, koa: typeof koaCache, fastify: typeof fastifyCache }))
await cache.close()
`

/** Which framework packages an import loaded (CommonJS ones, as these are, land in the require cache). */
const LOADS = `import { createRequire } from 'node:module'
await import(process.argv[2])
const cache = createRequire(import.meta.url).cache
const frameworks = Object.keys(cache).map((file) => /node_modules[\\\\/](express|koa|fastify)[\\\\/]/.exec(file)?.[1]).filter(Boolean)
console.log(JSON.stringify([...new Set(frameworks)]))
`

const CJS = `const { createCache, memoize, InvalidOptionError } = require('memoredis')
const { expressCache } = require('memoredis/express')
const { koaCache } = require('memoredis/koa')
const { fastifyCache } = require('memoredis/fastify')

const cache = createCache({ l1: { max: 10 } })
const double = memoize(async (n) => n * 2, { cache, name: 'double' })
double(21).then(async (value) => {
  console.log(JSON.stringify({ value, error: typeof InvalidOptionError, express: typeof expressCache, koa: typeof koaCache, fastify: typeof fastifyCache }))
  await cache.close()
})
`

const CONSUMER = `import { createCache, memoize, Memoize, InvalidOptionError, type Cache, type CacheOptions, type ErrorCode } from 'memoredis'
import { expressCache } from 'memoredis/express'
import { koaCache } from 'memoredis/koa'
import { fastifyCache } from 'memoredis/fastify'
import Fastify from 'fastify'
import type { RequestHandler } from 'express'
import type { Middleware } from 'koa'

const options: CacheOptions = { ttl: '5m', grace: '1m', l1: { max: 100 } }
const cache: Cache = createCache(options)
const square = memoize(async (n: number) => n * n, { cache, name: 'square', tags: (n) => [\`n:\${n}\`] })
const sixteen: Promise<number> = square(4)

class Users {
  @Memoize({ cache, ttl: '1m' })
  async byId(id: number): Promise<{ id: number; name: string }> {
    return { id, name: 'Ada' }
  }
}
const user: Promise<{ id: number; name: string }> = new Users().byId(1)
const express: RequestHandler = expressCache({ cache, ttl: '30s' })
const koa: Middleware = koaCache({ cache, ttl: '30s' })
const code: ErrorCode = new InvalidOptionError('x').code
const app = Fastify()
await app.register(fastifyCache, { cache, ttl: '30s', tags: (request) => [request.url] })
app.get('/x', { config: { memoredis: { ttl: '1m', tags: ['x'], vary: ['x-tenant'] } } }, async (_request, reply) => {
  await reply.cacheInvalidate(['x'])
  return app.memoredis === cache
})
export { sixteen, user, express, koa, code }
`

const INTERNAL = `import { createCache } from 'memoredis'

const cache = createCache()
export const core = cache.core
`

const IOREDIS5 = `import { Cluster, Redis } from 'ioredis'
import { createCache, type Cache } from 'memoredis'

const caches: Cache[] = [
  createCache({ redis: new Redis({ lazyConnect: true }) }),
  createCache({ redis: new Cluster([{ host: '127.0.0.1', port: 7000 }], { lazyConnect: true }) }),
  createCache({ redis: { host: '127.0.0.1', port: 6380, db: 2 } }),
]
export { caches }
`

describe('the npm package', function () {
  // npm pack builds (tsc) and npm installs the tarball: tens of seconds on a busy machine.
  this.timeout(240_000)
  let work: string
  let app: string
  let packed: string[]
  let installed: string
  let tarball: string

  before(async function () {
    this.timeout(240_000)
    work = mkdtempSync(join(tmpdir(), 'memoredis-pack-'))
    const repo = join(work, 'repo')
    app = join(work, 'app')
    mkdirSync(repo)
    mkdirSync(app)
    cleanCopy(repo)
    const pack = ok(await run('npm', ['pack', '--json', '--pack-destination', work], repo), 'npm pack')
    const report = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[]
    tarball = join(work, (report[0] as { filename: string }).filename)
    packed = (report[0] as { files: { path: string }[] }).files.map((f) => f.path)
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }))
    // Fastify for its types (it ships them); at run time memoredis/fastify needs none of it.
    const types = ['@types/node@^20.19', '@types/express@^5', '@types/koa@^3', 'fastify@^5']
    ok(await run('npm', ['install', tarball, ...types, '--prefer-offline', '--no-audit', '--no-fund'], app), 'npm install')
    installed = join(app, 'node_modules', 'memoredis')
  })

  after(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true })
  })

  it('ships the built dist/ (ESM and declarations) and the sources, with the license and README, nothing from spec/ or bench/', () => {
    for (const file of ['package.json', 'LICENSE', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/http/express.js', 'dist/http/express.d.ts', 'dist/http/koa.js', 'dist/http/koa.d.ts', 'dist/http/fastify.js', 'dist/http/fastify.d.ts', 'dist/nestjs/index.js', 'dist/nestjs/index.d.ts', 'dist/otel/index.js', 'dist/otel/index.d.ts']) {
      expect(packed, file).to.include(file)
    }
    expect(packed.filter((f) => /^(spec|bench|examples|\.ci)\//.test(f))).to.deep.equal([])
  })

  it('installs ioredis, its peer dependency, beside it (npm installs peers)', () => {
    const ioredis = JSON.parse(readFileSync(join(app, 'node_modules', 'ioredis', 'package.json'), 'utf8')) as { version: string }
    expect(ioredis.version).to.match(/^[56]\./)
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as Record<string, Record<string, string>>
    expect(manifest.peerDependencies?.ioredis).to.equal('^5 || ^6')
    expect(manifest.dependencies?.ioredis).to.equal(undefined)
    expect(manifest.engines?.node).to.equal('>=20.19')
  })

  it('is imported as ESM (memoredis, memoredis/express, memoredis/koa, memoredis/fastify) and memoizes with an L1-only cache', async () => {
    writeFileSync(join(app, 'esm.mjs'), ESM)
    const result = ok(await run(process.execPath, ['esm.mjs'], app), 'the ESM app')
    expect(JSON.parse(result.stdout)).to.deep.equal({ first: 144, second: 144, runs: 1, express: 'function', koa: 'function', fastify: 'function' })
  })

  it('loads no framework for memoredis, and no Fastify for memoredis/fastify (its imports of it are types)', async () => {
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

  /** One tsc run over both consumers (a good one and one that touches an internal): its output, by file. */
  let checked: Promise<Run> | undefined
  const typecheck = (): Promise<Run> => {
    writeFileSync(join(app, 'consumer.ts'), CONSUMER)
    writeFileSync(join(app, 'internal.ts'), INTERNAL)
    const args = ['--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--noEmit']
    checked ??= run(process.execPath, [TSC, ...args, 'consumer.ts', 'internal.ts'], app)
    return checked
  }
  const errorsIn = (result: Run, file: string): string[] => result.stdout.split('\n').filter((line) => line.startsWith(`${file}(`))

  it('typechecks a strict TypeScript consumer (nodenext) using createCache, memoize, Memoize, expressCache, koaCache and fastifyCache (route config, decorators)', async () => {
    const result = await typecheck()
    expect(errorsIn(result, 'consumer.ts')).to.deep.equal([])
    // Nothing else failed either: no error in the shipped declarations themselves.
    expect(result.stdout.split('\n').filter((line) => /error TS/.test(line) && !line.startsWith('internal.ts('))).to.deep.equal([])
  })

  it('refuses, in TypeScript, a consumer that touches an internal (cache.core)', async () => {
    const result = await typecheck()
    expect(result.code).to.not.equal(0)
    expect(errorsIn(result, 'internal.ts')).to.have.length(1)
    expect(errorsIn(result, 'internal.ts')[0]).to.match(/^internal\.ts\(4,\d+\): error TS2339: Property 'core' does not exist on type 'Cache'/)
  })

  it('typechecks an app on ioredis 5 that passes its own Redis, Cluster or options', async () => {
    const app5 = join(work, 'app5')
    mkdirSync(app5)
    writeFileSync(join(app5, 'package.json'), JSON.stringify({ name: 'app5', private: true, type: 'module' }))
    ok(await run('npm', ['install', tarball, 'ioredis@^5', '@types/node@^20.19', '--prefer-offline', '--no-audit', '--no-fund'], app5), 'npm install')
    const ioredis = JSON.parse(readFileSync(join(app5, 'node_modules', 'ioredis', 'package.json'), 'utf8')) as { version: string }
    expect(ioredis.version).to.match(/^5\./)
    expect(existsSync(join(app5, 'node_modules', 'memoredis', 'node_modules', 'ioredis'))).to.equal(false)
    writeFileSync(join(app5, 'app.ts'), IOREDIS5)
    const args = ['--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--noEmit', 'app.ts']
    ok(await run(process.execPath, [TSC, ...args], app5), 'tsc on the ioredis 5 app')
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
