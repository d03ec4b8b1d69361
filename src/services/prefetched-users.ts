import { couldBeIssuedId } from '../auth/secrets';
import type { UserStore } from '../db/user-store';
import type { User } from '../entities/user.entity';

/** At most this many reads are started for one request, whatever it sends. */
const MAX_PER_REQUEST = 2;
/** The ids UserService.create issues start so; other values name no user worth reading early. */
const USER_ID_PREFIX = 'usr_';

/**
 * Users a request names (a GraphQL variable, a REST path parameter), read while its credential is being
 * read: reads started in the same loop turn reach the database together (KeyedReads), so an update of
 * another user waits for two handoffs instead of three.
 *
 * A read started here is a read like the service's own, only made a moment earlier within the same
 * request: the service uses it only after authentication and its own rights and organization checks,
 * as it would use a row it read itself, and the write still checks the row's version. Each read is
 * taken once: a second use in the same request (two mutations of one user) reads again. Reads nobody
 * takes are dropped with the request.
 */
export class PrefetchedUsers {
  private readonly reads = new Map<string, Promise<User | null>>();

  constructor(private readonly users: UserStore) {}

  /** Starts reading the user `id` names, if it could be a user's id and the request has reads left. */
  start(id: unknown): void {
    if (typeof id !== 'string' || !id.startsWith(USER_ID_PREFIX) || !couldBeIssuedId(id)) return;
    if (this.reads.has(id)) return;
    if (this.reads.size >= MAX_PER_REQUEST) return;
    const read = this.users.userById(id);
    // Unused (authentication failed, the operation named no such user): its failure is nobody's.
    read.catch(() => undefined);
    this.reads.set(id, read);
  }

  /** The read started for `id`, handed out once; undefined when none was started. */
  take(id: string): Promise<User | null> | undefined {
    const read = this.reads.get(id);
    if (read) this.reads.delete(id);
    return read;
  }
}
