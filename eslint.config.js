// Package boundaries are enforced here, not in review (docs/style.md §10).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const SERVICES = ['identity', 'image', 'network', 'volume', 'compute', 'dashboard'];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/.build/**', '**/.next/**', '**/build/**', '**/node_modules/**', '**/coverage/**', '**/*.cjs', '**/next-env.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unsafe-function-type': 'off',
      '@typescript-eslint/no-explicit-any': 'warn',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@kumo/*/src', '@kumo/*/src/**'], message: 'Import the package entry, not /src.' },
            { group: SERVICES.map((s) => `@kumo/${s}`), message: "A service's code is never imported by another package: use @kumo/contracts (AMQP) or the public REST API." },
          ],
        },
      ],
    },
  },
  {
    files: ['packages/hypervisor/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['typeorm', '@nestjs/*', 'amqplib', 'amqp-connection-manager', 'pg'], message: 'packages/hypervisor must not know about the database, Nest or AMQP (cf. nova N307).' },
            { group: ['@kumo/*/src', '@kumo/*/src/**'], message: 'Import the package entry, not /src.' },
          ],
        },
      ],
    },
  },
  {
    files: ['packages/contracts/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['@nestjs/*', 'typeorm', 'amqplib', 'amqp-connection-manager', '@kumo/*'], message: 'contracts are plain types and names: no framework, no other package.' }] },
      ],
    },
  },
);
