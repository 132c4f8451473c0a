/**
 * One promise per key while a computation for it is under way in this process: every
 * concurrent caller of a key gets the same promise.
 */
export class SingleFlight<V> {
  private readonly flights = new Map<string, Promise<V>>()

  /**
   * Joins the flight for `key`, or starts one with `start`. `start` is given `detach`:
   * calling it lets later callers start a flight of their own while this one goes on
   * (its lease ran out: it may hang for good).
   */
  run(key: string, start: (detach: () => void) => Promise<V>): Promise<V> {
    const running = this.flights.get(key)
    if (running !== undefined) return running
    const own: { flight?: Promise<V> } = {}
    const land = (): void => {
      if (own.flight !== undefined && this.flights.get(key) === own.flight) this.flights.delete(key)
    }
    const flight = (own.flight = start(land))
    this.flights.set(key, flight)
    flight.then(land, land)
    return flight
  }

  /** Later callers of `key` start a flight of their own (the key was deleted: the running one is out of date). */
  forget(key: string): void {
    this.flights.delete(key)
  }
}
