import { express5 } from './http-framework-express.ts'
import { fastify5 } from './http-framework-fastify.ts'
import { nestjsExpress, nestjsFastify } from './http-framework-nestjs.ts'
import type { Framework } from './http-framework-types.ts'
import { koa3 } from './http-framework-koa.ts'

/** Every framework the shared HTTP specs run on (`spec/http/frameworks.spec.ts`); one line adds one. */
export const frameworks: readonly Framework[] = [express5, koa3, fastify5, nestjsExpress, nestjsFastify]
