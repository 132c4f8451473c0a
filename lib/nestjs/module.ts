/**
 * `MemoredisModule`: a global dynamic module that provides a memoredis cache to the
 * whole app and closes it when the app shuts down.
 */
import { Inject, Injectable, Module, type DynamicModule, type FactoryProvider, type ModuleMetadata, type OnApplicationShutdown, type Provider } from '@nestjs/common'
import { createCache } from '../cache.ts'
import type { Cache } from '../cache-types.ts'
import { InvalidOptionError } from '../errors.ts'
import { refuseUnknownOptions } from '../options/known.ts'
import { MemoredisInterceptor } from './interceptor.ts'
import { describeValue } from '../options/checks.ts'
import { resolveModuleOptions, type MemoredisModuleOptions, type ResolvedModuleOptions } from './options.ts'
import { MEMOREDIS_CACHE, MEMOREDIS_OPTIONS } from './tokens.ts'

/**
 * The module's cache as a class token, for injection by type where the compiler emits
 * decorator metadata (`emitDecoratorMetadata`): `constructor(private cache: MemoredisCache)`.
 * It is the same object as `MEMOREDIS_CACHE`; never constructed.
 */
// The interface gives the class token the type of a cache; the class is never constructed.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export abstract class MemoredisCache {}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging, @typescript-eslint/no-empty-object-type
export interface MemoredisCache extends Cache {}

/** Options of {@link MemoredisModule.forRootAsync}: the module options made by a factory with injected providers. */
export interface MemoredisModuleAsyncOptions {
  /** Modules whose providers the factory needs (e.g. `ConfigModule`). Default `[]`. */
  imports?: ModuleMetadata['imports']
  /** The providers handed to `useFactory`, in order. Default `[]`. */
  inject?: FactoryProvider['inject']
  /** Makes the module options (checked when it returns: `InvalidOptionError`). Required. */
  useFactory: (...args: never[]) => MemoredisModuleOptions | Promise<MemoredisModuleOptions>
}

/** Closes the cache when the application shuts down, unless `closeOnShutdown` is false. */
class MemoredisShutdown implements OnApplicationShutdown {
  private readonly cache: Cache
  private readonly options: ResolvedModuleOptions

  constructor(cache: Cache, options: ResolvedModuleOptions) {
    this.cache = cache
    this.options = options
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.options.closeOnShutdown) await this.cache.close()
  }
}
Injectable()(MemoredisShutdown)
Inject(MEMOREDIS_CACHE)(MemoredisShutdown, undefined, 0)
Inject(MEMOREDIS_OPTIONS)(MemoredisShutdown, undefined, 1)

/**
 * Provides one cache to the whole app (a global module): inject it with
 * `@Inject(MEMOREDIS_CACHE)`, `@InjectCache()` or, with decorator metadata, by the type
 * `MemoredisCache`; `MemoredisInterceptor` uses it. The cache is closed on application
 * shutdown (`closeOnShutdown`).
 *
 * @example
 * @Module({ imports: [MemoredisModule.forRoot({ redis: process.env.REDIS_URL, prefix: 'shop' })] })
 * export class AppModule {}
 */
export class MemoredisModule {
  /**
   * The module with options known now: `createCache`'s options, or `{ cache }`, plus
   * `http` and `closeOnShutdown`. Checked here (`InvalidOptionError`); the cache is
   * created when the app starts.
   */
  static forRoot(options: MemoredisModuleOptions = {}): DynamicModule {
    const resolved = resolveModuleOptions(options, 'MemoredisModule.forRoot')
    return build([{ provide: MEMOREDIS_OPTIONS, useValue: resolved }], [])
  }

  /** The module with options made when the app starts, by `useFactory` from the providers in `inject`. */
  static forRootAsync(options: MemoredisModuleAsyncOptions): DynamicModule {
    const where = 'MemoredisModule.forRootAsync'
    if (typeof options !== 'object' || options === null) throw new InvalidOptionError(`${where} expects { useFactory, inject?, imports? }, got ${describeValue(options)}`)
    refuseUnknownOptions(options, ['imports', 'inject', 'useFactory'], where)
    const { imports = [], inject = [], useFactory } = options
    if (typeof useFactory !== 'function') throw new InvalidOptionError(`${where}: useFactory must be a function, got ${describeValue(useFactory)}`)
    if (!Array.isArray(inject)) throw new InvalidOptionError(`${where}: inject must be an array of tokens`)
    if (!Array.isArray(imports)) throw new InvalidOptionError(`${where}: imports must be an array of modules`)
    const factory = async (...args: never[]): Promise<ResolvedModuleOptions> => resolveModuleOptions(await useFactory(...args), where)
    return build([{ provide: MEMOREDIS_OPTIONS, inject, useFactory: factory }], imports)
  }
}
Module({})(MemoredisModule)

function build(options: Provider[], imports: NonNullable<ModuleMetadata['imports']>): DynamicModule {
  return {
    module: MemoredisModule,
    global: true,
    imports,
    providers: [
      ...options,
      {
        provide: MEMOREDIS_CACHE,
        inject: [MEMOREDIS_OPTIONS],
        useFactory: ({ source }: ResolvedModuleOptions): Cache => ('cache' in source ? source.cache : createCache(source.options)),
      },
      { provide: MemoredisCache, useExisting: MEMOREDIS_CACHE },
      MemoredisShutdown,
      MemoredisInterceptor,
    ],
    exports: [MEMOREDIS_CACHE, MEMOREDIS_OPTIONS, MemoredisCache, MemoredisInterceptor],
  }
}
