// Puts the package entry on window for e2e/engine.test.mjs, which drives it with page.evaluate.
import * as edgewise from '../../src/index.ts';

(window as unknown as { __edgewise: typeof edgewise }).__edgewise = edgewise;
