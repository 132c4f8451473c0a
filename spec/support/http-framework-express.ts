import express, { type Request } from 'express'
import { createServer } from 'node:http'
import { expressCache } from '../../lib/http/express.ts'
import type { Framework, RouteRequest, ServeInput } from './http-framework-types.ts'
import { closeServers, listen } from './http.ts'

/**
 * Express 5 behind `expressCache`. A GET route's `tags` go through the middleware's
 * `tags` option, matched on the path; a POST route's `invalidates` are invalidated with
 * `cache.invalidateTags` once its handler has made its reply. JSON bodies are parsed
 * (`express.json()`), those of GET requests too.
 */

const requestOf = (req: Request): RouteRequest => ({ path: req.path, headers: req.headers, query: req.query, body: req.body as unknown })

export const express5: Framework = {
  name: 'Express 5',
  async serve(input: ServeInput) {
    const { cache, routes } = input
    const tagged = new Map(routes.filter((r) => r.method === 'GET' && r.tags !== undefined).map((r) => [r.path, r]))
    const app = express()
    app.use(express.json()) // it parses the body of a GET too
    app.use(expressCache({
      cache,
      ttl: input.ttl,
      vary: input.vary,
      maxBodySize: input.maxBodySize,
      onError: input.onError,
      tags: (req) => tagged.get(req.path)?.tags?.(requestOf(req)) ?? [],
    }))
    for (const route of routes) {
      const handler = async (req: Request, res: express.Response): Promise<void> => {
        const out = await route.reply(requestOf(req))
        if (route.invalidates !== undefined) await cache.invalidateTags(route.invalidates(requestOf(req)))
        res.status(out.status ?? 200).set(out.headers ?? {})
        if (typeof out.body === 'string' || Buffer.isBuffer(out.body)) res.send(out.body)
        else res.json(out.body)
      }
      if (route.method === 'GET') app.get(route.path, handler)
      else app.post(route.path, handler)
    }
    // A handler's error: a plain 500, without Express's stack trace on stderr.
    app.use((_error: unknown, _req: Request, res: express.Response, _next: express.NextFunction) => void res.status(500).send('failed'))
    const server = createServer(app)
    const url = await listen(server)
    return { url, close: async () => closeServers([server]) }
  },
}

