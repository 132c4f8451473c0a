import type { IncomingHttpHeaders } from 'node:http'
import type { Cache } from '../../lib/index.ts'

/**
 * A framework-neutral description of an app behind memoredis's HTTP cache, so that each
 * rule of the HTTP specs is written once and run on every framework (Express, Koa,
 * Fastify, NestJS). Each framework's adapter turns a {@link ServeInput} into a real app
 * listening on a free loopback port.
 */

/** What a route's handler sees of the request. */
export interface RouteRequest {
  /** The path, without the query. */
  path: string
  headers: IncomingHttpHeaders
  /** The query as the framework parsed it. */
  query: Readonly<Record<string, unknown>>
  /** The body as the framework (or, on Express, `express.json()`) parsed it; undefined when none. */
  body: unknown
}

/** What a route's handler answers. */
export interface RouteReply {
  /** Default 200. */
  status?: number
  /** Set before the body: content-type, set-cookie, cache-control, etag... */
  headers?: Readonly<Record<string, string>>
  /** A string or Buffer is sent as it is; an object is sent as JSON through the framework's own serialization. */
  body: string | Buffer | Readonly<Record<string, unknown>>
}

/** One route of the app. */
export interface Route {
  method: 'GET' | 'POST'
  /** A literal path, without parameters. */
  path: string
  reply(req: RouteRequest): RouteReply | Promise<RouteReply>
  /** GET: the tags the cached response carries, the framework's own way. */
  tags?: (req: RouteRequest) => readonly string[]
  /** POST: the tags invalidated after the handler succeeds, the framework's own way. */
  invalidates?: (req: RouteRequest) => readonly string[]
}

/** An app to serve: its cache, its routes and the HTTP cache options every framework shares. */
export interface ServeInput {
  cache: Cache
  routes: readonly Route[]
  /** How long a response stays fresh, ms. Default: the cache's. */
  ttl?: number
  /** Request headers that select a different response. Default none. */
  vary?: readonly string[]
  /** Larger bodies are passed through and never stored, bytes. Default the HTTP cache's. */
  maxBodySize?: number
  /** Told of the errors the HTTP cache swallowed (a throwing `tags`). Default: a process warning. */
  onError?: (error: unknown) => void
}

/** A running app. */
export interface Served {
  /** Its base URL, `http://127.0.0.1:<port>`. */
  url: string
  close(): Promise<void>
}

/** One framework's adapter. */
export interface Framework {
  /** As the spec titles show it, e.g. `'Fastify 5'`. */
  name: string
  serve(input: ServeInput): Promise<Served>
}
