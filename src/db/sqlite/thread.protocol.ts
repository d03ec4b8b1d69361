/** Messages between the server and its SQLite thread (sqlite.worker.ts). */
import type { DriverErrorInfo, WriteOutcome, WriteStep } from '../connections';

// The steps and outcomes are the port's (../connections.ts), imported as types only: the thread, which
// runs this from source in tests, loads nothing of that file.
export type { DriverErrorInfo, WriteOutcome, WriteStep };

/**
 * A write: statements that succeed or fail together, with `?NNN` parameters. (Reads run on the main
 * thread: connections.ts.)
 */
export type ThreadRequest = { id: number; write: WriteStep[] };

export type ThreadReply = { id: number; outcome: WriteOutcome } | { id: number; error: DriverErrorInfo };
