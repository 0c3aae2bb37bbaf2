/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: { module: 'commonjs', moduleResolution: 'node', types: ['node', 'jest'], esModuleInterop: true, strict: true, target: 'ES2022', skipLibCheck: true } }],
  },
  testTimeout: 30000,
};
