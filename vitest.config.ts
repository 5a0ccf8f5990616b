import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // 2-core machines: Hardhat, tfjs-wasm and libp2p suites are heavy; run files in forks
    // so each has its own tfjs engine and Hardhat instance.
    pool: 'forks',
    maxWorkers: 2,
  },
});
