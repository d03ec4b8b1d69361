import path from 'node:path';
import { compiledSources } from '../../src/worker-thread';
import { builtEntry } from './build';

// A test file's apps start their threads from the sources the run compiled once (global setup), as
// the server processes the tests spawn do, instead of compiling them again in every thread.
compiledSources.root = path.dirname(builtEntry('src/worker-thread.ts'));
