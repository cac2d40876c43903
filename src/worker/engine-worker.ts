// The dedicated worker that runs the engine off the page's thread (created by worker-engine.ts).

import { createInThreadEngine } from '../api/engine.ts';
import { exposeEngine } from './engine-host.ts';

exposeEngine(createInThreadEngine(), self as unknown as Worker);
