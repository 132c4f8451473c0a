import type { Duration } from './duration-type.ts'

/** Time limits for the function that computes a value. */
export interface TimeoutOptions {
  /**
   * After this long, serve the stale value if there is one and let the computation go
   * on in the background to fill the cache. Milliseconds or a {@link Duration} string.
   * @default undefined // no soft timeout
   */
  soft?: Duration
  /**
   * After this long, reject with `FactoryTimeoutError` (`ERR_FACTORY_TIMEOUT`), or serve
   * stale within grace. Milliseconds or a {@link Duration} string.
   * @default undefined // no hard timeout
   */
  hard?: Duration
}

/** The lock that lets one process per key compute while the others wait. */
export interface LockOptions {
  /**
   * How long a lock is held before Redis drops it; renewed every ttl/2 while the function
   * runs. Milliseconds or a {@link Duration} string.
   * @default '10s'
   */
  ttl?: Duration
  /**
   * The longest a process waits for another's value. Without a stale value, it then
   * computes itself, without the lock (the value is stored only if nobody holds the lock
   * by then); with one, see `staleWait`. Milliseconds or a {@link Duration}; 0: never wait.
   * @default '5s'
   */
  wait?: Duration
  /**
   * The longest a computation holds the lock when it has no hard timeout (with one, the
   * hard timeout is the lease). Past it the lock is released and not renewed, so another
   * process can take over a function that hangs, and new callers in this process start
   * afresh; a value it still returns is handed to its callers but not stored. Milliseconds
   * or a {@link Duration}.
   * @default '30s'
   */
  lease?: Duration
  /**
   * With a stale value to fall back on and no soft timeout, the longest wait for another
   * process's computation before serving the stale value. Milliseconds or a
   * {@link Duration}.
   * @default '250ms'
   */
  staleWait?: Duration
}
