import 'reflect-metadata'
import type { AddressInfo } from 'node:net'
import type { ServerResponse } from 'node:http'
import { Controller, Get, HttpCode, Module, Post, Req, StreamableFile, UseInterceptors } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { ExpressAdapter } from '@nestjs/platform-express'
import { CacheResponse, InvalidateRouteTags, MemoredisInterceptor, MemoredisModule, type MemoredisRequest } from 'memoredis/nestjs'
import type { Framework, Route, RouteReply, RouteRequest, ServeInput, Served } from './http-framework-types.ts'

/**
 * NestJS on its Express platform behind `MemoredisInterceptor`: each route a method of
 * one controller, built with Nest's own decorators applied as the compiler would
 * (`Reflect.decorate`; the specs run without `experimentalDecorators`). A handler
 * returns its body the Nest way (an object is serialized by Nest, a Buffer goes as a
 * `StreamableFile`), its headers set on the response first; a status other than 200 goes
 * as a web `Response`, which Nest sends with its status. `tags` is `@CacheResponse`'s,
 * `invalidates` is `@InvalidateRouteTags`'s.
 */

type Request = MemoredisRequest & { path: string; res: ServerResponse }

const toRoute = (req: Request): RouteRequest => ({ path: req.path, headers: req.headers })

/** What a handler returns for `reply`, its headers set on `res` first. */
function answer(reply: RouteReply, res: ServerResponse): unknown {
  const headers = reply.headers ?? {}
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value)
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
      value: async function (req: Request): Promise<unknown> {
        return answer(await route.reply(toRoute(req)), req.res)
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
  })
  Reflect.decorate([Controller(), UseInterceptors(MemoredisInterceptor)], Routes)
  return Routes
}

async function serve(input: ServeInput): Promise<Served> {
  const http: Record<string, unknown> = {}
  if (input.ttl !== undefined) http.ttl = input.ttl
  if (input.vary !== undefined) http.vary = input.vary
  if (input.maxBodySize !== undefined) http.maxBodySize = input.maxBodySize
  class App {}
  Module({
    imports: [MemoredisModule.forRoot({ cache: input.cache, http, closeOnShutdown: false })],
    controllers: [controllerOf(input.routes)],
  })(App)
  const app = await NestFactory.create(App, new ExpressAdapter(), { logger: false })
  await app.listen(0, '127.0.0.1')
  const { port } = (app.getHttpServer() as { address(): AddressInfo }).address()
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() }
}

/** NestJS 12 on `@nestjs/platform-express`. */
export const nestjsExpress: Framework = { name: 'NestJS 12 (Express)', serve }
