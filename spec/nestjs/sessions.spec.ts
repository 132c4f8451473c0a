import 'reflect-metadata'
import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { Controller, Get, Module, Req, type INestApplication } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { ExpressAdapter } from '@nestjs/platform-express'
import cookieSession from 'cookie-session'
import type { RequestHandler } from 'express'
import expressSession from 'express-session'
import { CacheResponse, MemoredisModule } from 'memoredis/nestjs'
import { expectSessionsApart } from '../support/http.ts'
import { useRedis } from '../support/redis.ts'

/**
 * A Nest app (Express platform) with session middleware that sets its cookie as the
 * headers go out (`on-headers`): a page carrying one visitor's session is never served to
 * the next, and the cookie still reaches each visitor (issue: the interceptor judged the
 * response before the cookie was set, and served visitor 1's token to visitor 2).
 */

/** A page with a per-session token, cached by the route's @CacheResponse. */
function formController(): new () => object {
  class FormController {
    form(req: { session?: { csrf?: string } }): string {
      const session = req.session as { csrf?: string }
      session.csrf ??= randomUUID()
      return `<input name="csrf" value="${session.csrf}">`
    }
  }
  Reflect.decorate([Get('form'), CacheResponse()], FormController.prototype, 'form', Object.getOwnPropertyDescriptor(FormController.prototype, 'form'))
  Req()(FormController.prototype, 'form', 0)
  Reflect.decorate([Controller()], FormController)
  return FormController
}

describe('memoredis/nestjs with session middleware (cookies set as the headers go out)', () => {
  const redis = useRedis()
  let app: INestApplication | undefined

  afterEach(async () => {
    await app?.close()
    app = undefined
  })

  /** Serves the form behind `session` (Nest's `app.use`, before every route); the app's URL. */
  async function serve(session: RequestHandler): Promise<string> {
    class AppModule {}
    Module({ imports: [MemoredisModule.forRoot({ redis: redis.url, prefix: 'nest-sessions' })], controllers: [formController()] })(AppModule)
    app = await NestFactory.create(AppModule, new ExpressAdapter(), { logger: false, abortOnError: false })
    app.use(session)
    await app.listen(0, '127.0.0.1')
    const { port } = (app.getHttpServer() as { address(): AddressInfo }).address()
    return `http://127.0.0.1:${port}`
  }

  const sessions: Record<string, [() => RequestHandler, string]> = {
    'express-session (saveUninitialized)': [() => expressSession({ secret: 'spec', resave: false, saveUninitialized: true }), 'connect.sid'],
    'cookie-session': [() => cookieSession({ name: 'session', keys: ['spec'] }), 'session'],
  }
  for (const [name, [session, cookie]] of Object.entries(sessions)) {
    it(`never serves one visitor’s session page to the next, and still sends the cookie: ${name}`, async () => {
      await expectSessionsApart(await serve(session()), '/form', cookie)
    })
  }
})
