import { context, SpanKind, SpanStatusCode, type Attributes, type Histogram, type Span, type Tracer } from '@opentelemetry/api'
import type { Core } from '../engine/core.ts'
import { computeChannel, lockWaitChannel, type ComputeContext, type LockWaitContext } from '../observe/diagnostics.ts'
import { MemoredisError } from '../errors.ts'
import { namespaceOf } from '../engine/namespace.ts'
import { ATTR, SPANS } from './names.ts'

/**
 * Spans and duration histograms for the slow paths, from memoredis's tracing channels
 * (`memoredis:compute`, `memoredis:lock-wait`): a computation and a wait for another
 * process's computation each become a span and one histogram record. Hits publish on
 * no channel this module listens to, so they cost nothing here. A handler never throws
 * (a subscriber's exception would surface as an uncaught one): a failing tracer or
 * meter loses its record, never a read.
 */

/** The fields of a channel's context this module reads. */
type CallContext = Pick<ComputeContext, 'cache' | 'namespace' | 'name' | 'error'>

/** What a call under way carries until it ends. */
interface Open {
  readonly span: Span
  readonly started: number
}

/** The tracing channels' events this module handles. */
interface Handlers<C> {
  start(ctx: C): void
  end(ctx: C): void
  asyncStart(ctx: C): void
  asyncEnd(ctx: C): void
  error(ctx: C): void
}

/** What one instrumented cache records its slow paths into. */
export interface SlowPathSinks {
  readonly core: Core
  readonly tracer: Tracer
  readonly prefix: Attributes
  readonly computationDuration: Histogram
  readonly lockWaitDuration: Histogram
}

/** The code of an error, as `error.type`: a memoredis code, else the error's class name. */
function errorType(error: unknown): string {
  if (error instanceof MemoredisError) return error.code
  return error instanceof Error ? error.constructor.name : typeof error
}

/** Handlers that open a span at `start` and close it, with a histogram record, when the call settles. */
function handlersFor<C extends CallContext>(
  sinks: SlowPathSinks,
  spanName: string,
  settle: (ctx: C, span: Span, seconds: number) => void,
): Handlers<C> {
  const open = new WeakMap<C, Open>()
  const mine = (ctx: C): boolean => namespaceOf(ctx.cache)?.core === sinks.core
  const finish = (ctx: C): void => {
    const call = open.get(ctx)
    if (call === undefined) return
    open.delete(ctx)
    guarded(() => {
      if (ctx.error !== undefined) {
        call.span.setAttribute(ATTR.errorType, errorType(ctx.error))
        if (ctx.error instanceof Error) call.span.recordException(ctx.error)
        call.span.setStatus({ code: SpanStatusCode.ERROR })
      }
      settle(ctx, call.span, (performance.now() - call.started) / 1000)
      call.span.end()
    })
  }
  return {
    start: (ctx) => {
      if (!mine(ctx)) return
      guarded(() => {
        const attributes: Attributes = { ...sinks.prefix }
        attributes[ATTR.namespace] = ctx.namespace
        if (ctx.name !== undefined) attributes[ATTR.function] = ctx.name
        // Published in the caller's context: its active span is the parent.
        const span = sinks.tracer.startSpan(spanName, { kind: SpanKind.INTERNAL, attributes }, context.active())
        open.set(ctx, { span, started: performance.now() })
      })
    },
    // A synchronous throw ends the call at `end`; a promise ends it at `asyncEnd`.
    end: (ctx) => {
      if (ctx.error !== undefined) finish(ctx)
    },
    asyncStart: () => {},
    asyncEnd: finish,
    error: () => {},
  }
}

function guarded(work: () => void): void {
  try {
    work()
  } catch {
    // The tracer or the meter failed: this record is lost, the call goes on.
  }
}

/**
 * Subscribes the cache's spans and histograms to the compute and lock-wait channels;
 * returns the function that unsubscribes them.
 */
export function traceSlowPaths(sinks: SlowPathSinks): () => void {
  const compute = handlersFor<ComputeContext>(sinks, SPANS.compute, (ctx, span, seconds) => {
    const background = ctx.background
    span.setAttribute(ATTR.background, background)
    const attributes: Attributes = { ...sinks.prefix, [ATTR.background]: background }
    if (ctx.error !== undefined) attributes[ATTR.errorType] = errorType(ctx.error)
    sinks.computationDuration.record(seconds, attributes)
  })
  const lockWait = handlersFor<LockWaitContext>(sinks, SPANS.lockWait, (ctx, span, seconds) => {
    const outcome = ctx.outcome ?? (ctx.error === undefined ? 'value' : 'error')
    span.setAttribute(ATTR.lockOutcome, outcome)
    sinks.lockWaitDuration.record(seconds, { ...sinks.prefix, [ATTR.lockOutcome]: outcome })
  })
  let subscribed = true
  const stop = (): void => {
    if (!subscribed) return
    subscribed = false
    computeChannel.unsubscribe(compute)
    lockWaitChannel.unsubscribe(lockWait)
  }
  // A closed cache computes nothing more: its handlers leave at the next trace they see
  // (after the publish under way, which a subscriber should not change).
  for (const handlers of [compute, lockWait] as Handlers<CallContext>[]) {
    const start = handlers.start
    handlers.start = (ctx) => {
      if (sinks.core.closed) queueMicrotask(stop)
      else start(ctx)
    }
  }
  computeChannel.subscribe(compute)
  lockWaitChannel.subscribe(lockWait)
  return stop
}
