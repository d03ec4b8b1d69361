/** The part of `type-is` used here (the package ships no types). */
declare module 'type-is' {
  import type { IncomingMessage } from 'node:http';

  /** The first of `types` the request's Content-Type matches, false for none, null when it has no body. */
  function typeis(req: IncomingMessage, types: string[]): string | false | null;
  export = typeis;
}
