import 'reflect-metadata'
import type { AddressInfo } from 'node:net'
import { Controller, Get, HttpCode, Module, Post, Req, Res, StreamableFile, UseInterceptors, type INestApplication } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { ExpressAdapter } from '@nestjs/platform-express'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import { CacheResponse, InvalidateRouteTags, MemoredisInterceptor, MemoredisModule, type MemoredisRequest } from 'memoredis/nestjs'
import type { Framework, Route, RouteReply, RouteRequest, ServeInput, Served } from './http-framework-types.ts'

/**
 * NestJS on its Express and Fastify platforms behind `MemoredisInterceptor`: each route a
 * method of one controller, built with Nest's own decorators applied as the compiler
 * would (`Reflect.decorate`; the specs run without `experimentalDecorators`). A handler
 * returns its body the Nest way (an object is serialized by Nest, a Buffer goes as a
 * `StreamableFile`), its headers set first on the platform's response
 * (`@Res({ passthrough: true })`); a status other than 200 goes as a web `Response`,
 * which Nest sends with its status. `tags` is `@CacheResponse`'s, `invalidates` is
 * `@InvalidateRouteTags`'s.
 */

/** Express's `req` or Fastify's `request`. */
type Request = MemoredisRequest & { path?: string; url: string; query: Record<string, unknown>; body?: unknown }
/** Express's `res` or Fastify's `reply`: both have `header(name, value)`. */
interface Reply { header(name: string, value: string): unknown }

const toRoute = (req: Request): RouteRequest => ({ path: req.path ?? (req.url.split('?')[0] as string), headers: req.headers, query: req.query, body: req.body })

/** What a handler returns for `reply`, its headers set on `res` first. */
function answer(reply: RouteReply, res: Reply): unknown {
  const headers = reply.headers ?? {}
  for (const [name, value] of Object.entries(headers)) res.header(name, value)
  const body = reply.body
  if ((reply.status ?? 200) !== 200) {
    const bytes = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body)
    const own = Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'set-cookie'))
    if (typeof body === 'object' && !Buffer.isBuffer(body) && own['content-type'] === undefined) own['content-type'] = 'application/json'
    const empty = reply.status === 204 || reply.status === 304
    return new Response(empty ? null : bytes, { status: reply.status, headers: own })
  }
  return Buffer.isBuffer(body) ? new StreamableFile(body) : body
}

function controllerOf(routes: readonly Route[]): new () => object {
  class Routes {}
  routes.forEach((route, i) => {
    const name = `route${i}`
    Object.defineProperty(Routes.prototype, name, {
      value: async function (req: Request, res: Reply): Promise<unknown> {
        return answer(await route.reply(toRoute(req)), res)
      },
      writable: true,
      configurable: true,
    })
    const decorators: MethodDecorator[] = [route.method === 'GET' ? Get(route.path) : Post(route.path), HttpCode(200)]
    const tags = route.tags
    if (tags !== undefined) decorators.push(CacheResponse<Request>({ tags: (req) => tags(toRoute(req)) }))
    const invalidates = route.invalidates
    if (invalidates !== undefined) decorators.push(InvalidateRouteTags<Request>((req) => invalidates(toRoute(req))))
    Reflect.decorate(decorators, Routes.prototype, name, Object.getOwnPropertyDescriptor(Routes.prototype, name))
    Req()(Routes.prototype, name, 0)
    Res({ passthrough: true })(Routes.prototype, name, 1)
  })
  Reflect.decorate([Controller(), UseInterceptors(MemoredisInterceptor)], Routes)
  return Routes
}

function serving(platform: () => ExpressAdapter | FastifyAdapter): (input: ServeInput) => Promise<Served> {
  return async (input) => {
    const http: Record<string, unknown> = {}
    if (input.ttl !== undefined) http.ttl = input.ttl
    if (input.vary !== undefined) http.vary = input.vary
    if (input.maxBodySize !== undefined) http.maxBodySize = input.maxBodySize
    if (input.onError !== undefined) http.onError = input.onError
    class App {}
    Module({
      imports: [MemoredisModule.forRoot({ cache: input.cache, http, closeOnShutdown: false })],
      controllers: [controllerOf(input.routes)],
    })(App)
    const app: INestApplication = await NestFactory.create(App, platform(), { logger: false, abortOnError: false })
    await app.listen(0, '127.0.0.1')
    const { port } = (app.getHttpServer() as { address(): AddressInfo }).address()
    return { url: `http://127.0.0.1:${port}`, close: () => app.close() }
  }
}

/** NestJS 12 on `@nestjs/platform-express`. */
export const nestjsExpress: Framework = { name: 'NestJS 12 (Express)', serve: serving(() => new ExpressAdapter()) }

/** NestJS 12 on `@nestjs/platform-fastify`. */
export const nestjsFastify: Framework = { name: 'NestJS 12 (Fastify)', serve: serving(() => new FastifyAdapter()) }
