/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: { target: 'ES2022', module: 'commonjs', strict: true, esModuleInterop: true, types: ['node', 'jest'] }, isolatedModules: false }],
  },
  testTimeout: 120000,
};
