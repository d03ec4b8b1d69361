declare module 'accepts' {
  import type { IncomingMessage } from 'node:http';

  interface Accepts {
    /** The best of `types` for the request's Accept header, or false when none is acceptable. */
    type(types: string[]): string | false;
  }

  function accepts(req: IncomingMessage): Accepts;
  export = accepts;
}
