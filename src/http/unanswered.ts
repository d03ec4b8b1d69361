import type { ServerResponse } from 'node:http';

/**
 * The responses still to be sent, in reusable slots of one array, for the graceful shutdown. A Set
 * did the same job, but measured under load (docs/performance.md) the server then promoted
 * far more of each request's objects into V8's old generation: with a credential check or any other
 * wait in a GraphQL request, 0.84 MB per scavenge with the Set against 0.14 MB with these slots, which
 * only ever overwrite a slot and never rebuild a table.
 */
export class UnansweredResponses {
  private readonly slots: Array<ServerResponse | undefined> = [];
  private readonly free: number[] = [];

  /** Tracks `res` until it closes. */
  track(res: ServerResponse): void {
    const slot = this.free.length > 0 ? this.free.pop()! : this.slots.length;
    this.slots[slot] = res;
    res.once('close', () => {
      this.slots[slot] = undefined;
      this.free.push(slot);
    });
  }

  *[Symbol.iterator](): IterableIterator<ServerResponse> {
    for (const res of this.slots) if (res) yield res;
  }
}
