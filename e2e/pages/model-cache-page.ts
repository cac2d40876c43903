// Puts the model cache and its Cache Storage store on window for e2e/model-cache.test.mjs.
import { cachedModelFile } from '../../src/api/model-cache.ts';
import { CacheStorageModelStore } from '../../src/api/model-store-cache-api.ts';

(window as unknown as { __modelCache: unknown }).__modelCache = { cachedModelFile, CacheStorageModelStore };
