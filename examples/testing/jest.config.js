// jest for the example suite: `NODE_OPTIONS=--experimental-vm-modules npx jest --config jest.config.js`.
// Larder is ESM only, so the test files run as ES modules (jest's ESM support needs that Node flag);
// `typescript-transform.js` strips their types, and `./x.js` imports find the `./x.ts` beside them.
/** @type {import('jest').Config} */
export default {
  testMatch: ['<rootDir>/*.jest.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '\\.ts$': '<rootDir>/typescript-transform.js' },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testTimeout: 60_000,
}
