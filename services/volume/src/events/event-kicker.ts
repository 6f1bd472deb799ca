/** Tells the outbox relay that events were queued. */
export interface EventKicker {
  kick(): void;
}

export const EVENT_KICKER = Symbol('EVENT_KICKER');
