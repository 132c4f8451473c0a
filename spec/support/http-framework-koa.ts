import Koa, { type Context } from 'koa'
import { createServer } from 'node:http'
import { koaCache } from '../../lib/http/koa.ts'
import type { Framework, Route, RouteRequest, ServeInput } from './http-framework-types.ts'
import { closeServers, listen } from './http.ts'

/**
 * Koa 3 behind `koaCache`, routes matched by exact path (HEAD as GET). A GET route's
 * `tags` go through the middleware's `tags` option, matched on the path; a POST route's
 * `invalidates` are invalidated with `cache.invalidateTags` once its handler has made its reply.
 */

const requestOf = (ctx: Context, body?: unknown): RouteRequest => ({ path: ctx.path, headers: ctx.headers, query: ctx.query, body })

/** A JSON body, read as a body-parsing middleware would (Koa parses none itself), a GET's too. */
async function jsonBody(ctx: Context): Promise<unknown> {
  if (ctx.is('application/json') !== 'application/json') return undefined
  const chunks: Buffer[] = []
  for await (const chunk of ctx.req) chunks.push(chunk as Buffer)
  return JSON.parse(Buffer.concat(chunks).toString()) as unknown
}

function routeOf(routes: readonly Route[], ctx: Context): Route | undefined {
  const method = ctx.method === 'HEAD' ? 'GET' : ctx.method
  return routes.find((r) => r.path === ctx.path && r.method === method)
}

export const koa3: Framework = {
  name: 'Koa 3',
  async serve(input: ServeInput) {
    const { cache, routes } = input
    const app = new Koa()
    app.silent = true
    app.use(koaCache({
      cache,
      ttl: input.ttl,
      vary: input.vary,
      maxBodySize: input.maxBodySize,
      onError: input.onError,
      tags: (ctx) => routeOf(routes, ctx)?.tags?.(requestOf(ctx)) ?? [],
    }))
    app.use(async (ctx) => {
      const route = routeOf(routes, ctx)
      if (route === undefined) return
      const out = await route.reply(requestOf(ctx, await jsonBody(ctx)))
      if (route.invalidates !== undefined) await cache.invalidateTags(route.invalidates(requestOf(ctx)))
      ctx.status = out.status ?? 200
      ctx.set(out.headers ?? {})
      ctx.body = out.body
    })
    const server = createServer(app.callback())
    const url = await listen(server)
    return { url, close: async () => closeServers([server]) }
  },
}
