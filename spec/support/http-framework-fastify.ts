import Fastify, { type FastifyRequest } from 'fastify'
import { fastifyCache } from '../../lib/http/fastify.ts'
import type { Framework, RouteRequest, ServeInput } from './http-framework-types.ts'

/**
 * Fastify 5 with the `fastifyCache` plugin. A GET route's `tags` go in its
 * `config.memoredis.tags`; a POST route's `invalidates` are invalidated with
 * `reply.cacheInvalidate` once its handler has made its reply. Objects are sent through
 * Fastify's own serialization.
 */

const requestOf = (request: FastifyRequest): RouteRequest => ({
  path: request.url.split('?')[0] ?? '',
  headers: request.headers,
  query: request.query as Record<string, unknown>,
  body: request.body,
})

export const fastify5: Framework = {
  name: 'Fastify 5',
  async serve(input: ServeInput) {
    const app = Fastify()
    await app.register(fastifyCache, { cache: input.cache, ttl: input.ttl, vary: input.vary, maxBodySize: input.maxBodySize, onError: input.onError })
    for (const route of input.routes) {
      const tags = route.tags
      app.route({
        method: route.method,
        url: route.path,
        config: tags === undefined ? {} : { memoredis: { tags: (request) => tags(requestOf(request)) } },
        handler: async (request, reply) => {
          const out = await route.reply(requestOf(request))
          if (route.invalidates !== undefined) await reply.cacheInvalidate(route.invalidates(requestOf(request)))
          reply.code(out.status ?? 200).headers(out.headers ?? {})
          return out.body
        },
      })
    }
    await app.listen({ port: 0, host: '127.0.0.1' })
    const address = app.server.address()
    const url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
    return {
      url,
      close: async () => {
        app.server.closeAllConnections()
        await app.close()
      },
    }
  },
}
