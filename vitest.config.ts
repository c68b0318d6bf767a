import { availableParallelism } from 'node:os'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Guards against a hang, not timings: a test that takes 40 s beside two other files needs room.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Most files wait on child processes, servers, services and the browser rather than on the CPU,
    // and each starts a process and imports its modules: on 2 cores, three files at a time run the
    // suite about a tenth faster than two (vitest would run one there, CPUs - 1).
    maxWorkers: Math.max(3, availableParallelism() - 1),
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-artifacts/vitest.json' },
  },
})
