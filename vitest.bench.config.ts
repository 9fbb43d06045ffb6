import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/** `npm run bench`: the measurements in bench/, one file at a time so they do not disturb each other. */
export default defineConfig({
  ...base,
  test: { ...base.test, include: ['bench/**/*.bench.ts'], fileParallelism: false, testTimeout: 600_000 },
});
