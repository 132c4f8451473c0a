/**
 * memoredis in a NestJS app (Express platform), run by examples/nestjs.ts.
 *
 * Shows: MemoredisModule providing one cache (closed on shutdown); a service whose read
 * is memoized with @Memoize and whose write invalidates with @InvalidateTags; a
 * controller whose GET route is cached by MemoredisInterceptor (MISS, then HIT); and a
 * write route with @InvalidateRouteTags. Both writes invalidate the tag `product:1`,
 * which the memoized read and the cached response carry: the next GET is fresh.
 *
 * `@Inject(Products)` is spelled out: tsx (esbuild) does not emit decorator metadata, so
 * Nest cannot inject by type here; with `tsc` and `emitDecoratorMetadata` it can.
 */
import 'reflect-metadata'
import type { AddressInfo } from 'node:net'
import { Controller, Get, Inject, Injectable, Module, Param, Put, Query, UseInterceptors } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import type { Request } from 'express'
import { CacheClosedError, createCache, InvalidateTags, Memoize } from 'memoredis'
import { CacheResponse, InvalidateRouteTags, MemoredisInterceptor, MemoredisModule } from 'memoredis/nestjs'

// One cache for the module and for the decorators, which need it when the class is defined.
const cache = createCache({ redis: process.env.REDIS_URL || undefined, prefix: 'example-nestjs' })

interface Product {
  id: string
  name: string
  price: number
}
const db = new Map<string, Product>([['1', { id: '1', name: 'Tea', price: 3 }]])
let queries = 0

@Injectable()
class Products {
  @Memoize({ cache, ttl: '1m', tags: ([id]: [string]) => [`product:${id}`] })
  async find(id: string): Promise<Product | null> {
    queries++
    await new Promise((resolve) => setTimeout(resolve, 200)) // a slow query
    return db.get(id) ?? null
  }

  @InvalidateTags(([id]: [string, number]) => [`product:${id}`], { cache })
  async setPrice(id: string, price: number): Promise<Product | undefined> {
    const product = db.get(id)
    if (product !== undefined) product.price = price
    return product
  }
}

@Controller('products')
@UseInterceptors(MemoredisInterceptor)
class ProductsController {
  constructor(@Inject(Products) private readonly products: Products) {}

  @Get(':id')
  @CacheResponse<Request>({ ttl: '30s', tags: (req) => [`product:${req.params.id}`] })
  find(@Param('id') id: string): Promise<Product | null> {
    return this.products.find(id)
  }

  @Put(':id/price')
  async setPrice(@Param('id') id: string, @Query('price') price: string): Promise<{ ok: boolean }> {
    return { ok: (await this.products.setPrice(id, Number(price))) !== undefined }
  }

  @Put(':id/name')
  @InvalidateRouteTags<Request>((req) => [`product:${req.params.id}`])
  rename(@Param('id') id: string, @Query('name') name: string): { ok: boolean } {
    const product = db.get(id)
    if (product !== undefined) product.name = name
    return { ok: product !== undefined }
  }
}

@Module({
  imports: [MemoredisModule.forRoot({ cache })],
  controllers: [ProductsController],
  providers: [Products],
})
class AppModule {}

const app = await NestFactory.create(AppModule, { logger: false })
await app.listen(0, '127.0.0.1')
const base = `http://127.0.0.1:${(app.getHttpServer() as { address(): AddressInfo }).address().port}`
console.log(`cache: ${process.env.REDIS_URL ? `L1 + Redis at ${process.env.REDIS_URL}` : 'L1 only (set REDIS_URL to share it through Redis)'}`)

async function show(method: string, path: string): Promise<void> {
  const started = performance.now()
  const response = await fetch(base + path, { method })
  const body = await response.text()
  const ms = Math.round(performance.now() - started)
  console.log(`${method} ${path} -> ${response.status} ${response.headers.get('x-cache')} ${body} (queries: ${queries}, ${ms} ms)`)
}

await show('GET', '/products/1')
await show('GET', '/products/1')
const service = app.get(Products)
console.log(`service.find("1") from elsewhere in the app: ${JSON.stringify(await service.find('1'))} (queries: ${queries})`)
await show('PUT', '/products/1/price?price=4')
console.log('@InvalidateTags on Products.setPrice invalidated product:1')
await show('GET', '/products/1')
await show('PUT', '/products/1/name?name=Green%20tea')
console.log('@InvalidateRouteTags on the route invalidated product:1')
await show('GET', '/products/1')
await show('GET', '/products/1')

await app.close()
const closed = await cache.get('anything').then(() => false, (error: unknown) => error instanceof CacheClosedError)
console.log(`app closed; the module closed the cache: ${closed ? 'yes' : 'no'}`)
