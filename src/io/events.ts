/** Waiting on streams without leaving listeners behind. */
import type { EventEmitter } from 'node:events';

/**
 * Resolves at the first of `events` on `emitter`, or rejects when that event's entry gives an error;
 * either way every listener added here is removed. (Plain listeners: an AbortController and one
 * once() per event, on each wait for a drained output, were a visible cost.)
 */
export function firstEvent(emitter: EventEmitter, events: Record<string, ((arg: unknown) => Error) | null>): Promise<void> {
  return new Promise((resolve, reject) => {
    const listeners = Object.entries(events).map(([name, fail]) => {
      const listener = (arg: unknown) => {
        for (const [n, l] of listeners) emitter.off(n, l);
        if (fail) reject(fail(arg));
        else resolve();
      };
      return [name, listener] as const;
    });
    for (const [n, l] of listeners) emitter.on(n, l);
  });
}
