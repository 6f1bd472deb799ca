/** Tells the outbox relay that events were queued (a no-op where no relay runs, e.g. `main.js seed-test-image`). */
export interface EventKicker {
  kick(): void;
}

export const EVENT_KICKER = Symbol('EVENT_KICKER');
