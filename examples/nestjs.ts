/**
 * memoredis in a NestJS app: the app itself is examples/nestjs/app.ts.
 *
 * NestJS needs TypeScript's legacy decorators (`experimentalDecorators`), which the other
 * examples do not use; so this file runs the app under examples/nestjs/tsconfig.json
 * (tsx reads one tsconfig per registration). An app compiled by `tsc` with that setting
 * needs nothing of the kind.
 *
 * Run: node --conditions=source --import tsx examples/nestjs.ts
 * With REDIS_URL=redis://127.0.0.1:6379 the cache is shared through Redis.
 */
import { fileURLToPath } from 'node:url'
import { register } from 'tsx/esm/api'

const tsx = register({ namespace: 'nestjs-example', tsconfig: fileURLToPath(new URL('./nestjs/tsconfig.json', import.meta.url)) })
await tsx.import('./nestjs/app.ts', import.meta.url)
await tsx.unregister()
