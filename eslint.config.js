// Lint is part of `npm test`. Type-aware rules catch the mistakes that matter most in a
// server full of async I/O: promises nobody awaits and async functions passed where a
// callback's result is ignored.
import tseslint from 'typescript-eslint';

export default tseslint.config({ ignores: ['**/node_modules/**', '**/dist/**', '.tessera/**', 'bench/results/**'] }, ...tseslint.configs.recommended, {
  files: ['**/*.ts'],
  languageOptions: {
    parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
  },
  rules: {
    // node:test's describe/it return promises the runner itself awaits.
    '@typescript-eslint/no-floating-promises': [
      'error',
      {
        allowForKnownSafeCalls: [
          { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] },
        ],
      },
    ],
    '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
    '@typescript-eslint/consistent-type-imports': 'error',
    '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    'no-console': 'off',
  },
});
