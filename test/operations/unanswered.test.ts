import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { UnansweredResponses } from '../../src/http/unanswered';

/** Enough of a response for the tracker: it only listens for 'close'. */
const response = () => new EventEmitter() as unknown as ServerResponse;

describe('UnansweredResponses', () => {
  it('lists the responses not closed yet, and reuses the slots of closed ones', () => {
    const unanswered = new UnansweredResponses();
    const [a, b, c] = [response(), response(), response()];
    unanswered.track(a);
    unanswered.track(b);
    unanswered.track(c);
    expect([...unanswered]).toEqual([a, b, c]);

    b.emit('close');
    expect([...unanswered]).toEqual([a, c]);

    const d = response();
    unanswered.track(d); // takes b's slot
    expect([...unanswered]).toEqual([a, d, c]);

    for (const res of [a, c, d]) res.emit('close');
    expect([...unanswered]).toEqual([]);
  });

  it('forgets a response once, even if it closes twice', () => {
    const unanswered = new UnansweredResponses();
    const a = response();
    unanswered.track(a);
    a.emit('close');
    a.emit('close');
    unanswered.track(response());
    unanswered.track(response());
    expect([...unanswered]).toHaveLength(2);
  });
});
