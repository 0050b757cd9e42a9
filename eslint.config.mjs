// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

/** What the pure domain may never import: it decides and evolves, nothing else. */
const forbiddenInDomain = [
  { group: ['@nestjs/*'], message: 'The domain is pure: no NestJS.' },
  { group: ['typeorm', 'pg', 'pg-*'], message: 'The domain is pure: no database.' },
  { group: ['kafkajs'], message: 'The domain is pure: no Kafka.' },
  {
    group: ['fs', 'node:fs', 'fs/*', 'node:fs/*', 'child_process', 'node:child_process'],
    message: 'The domain is pure: no I/O.',
  },
  {
    group: ['@dolly/*', '!@dolly/domain'],
    message: 'The domain depends on no other Dolly library.',
  },
];

/** The helpers for specs against the real services: loading them loads kafkajs and pg. */
const infrastructureTesting = {
  name: '@dolly/testing',
  message:
    'Unit specs are pure: import @dolly/testing/pure (@dolly/testing loads the Kafka and PostgreSQL tools).',
};

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      '.local/**',
      'node_modules/**',
      'coverage/**',
      'tools/jest/**',
      'jest.config.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    languageOptions: { parserOptions: { projectService: false } },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
      'no-console': 'off',
    },
  },
  {
    // NestJS resolves constructor parameters by their runtime type: type-only imports there break injection.
    files: ['apps/**/*.ts', 'libs/platform/**/*.ts'],
    rules: { '@typescript-eslint/consistent-type-imports': 'off' },
  },
  {
    files: ['libs/domain/**/*.ts'],
    ignores: ['libs/domain/**/*.spec.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: forbiddenInDomain }] },
  },
  {
    // The unit suite runs without services: its specs load none of their helpers.
    files: ['**/*.spec.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [infrastructureTesting] }] },
  },
  {
    // Specifications may use the shared pure helpers (given/when/then, fixtures), and nothing else of Dolly's.
    files: ['libs/domain/**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [infrastructureTesting],
          patterns: [
            ...forbiddenInDomain.slice(0, -1),
            {
              group: ['@dolly/*', '!@dolly/domain', '!@dolly/testing'],
              message: 'Specs use only @dolly/testing/pure.',
            },
          ],
        },
      ],
    },
  },
  {
    // The pure spec helpers are as pure as the domain they check (event fixtures may name contracts' types).
    files: ['libs/testing/src/pure/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...forbiddenInDomain.slice(0, -1),
            {
              group: ['@dolly/*', '!@dolly/domain', '!@dolly/contracts'],
              message: 'Pure spec helpers stand on the domain and the contracts only.',
            },
            {
              group: ['../*'],
              message: 'Pure spec helpers import none of the infrastructure helpers beside them.',
            },
          ],
        },
      ],
    },
  },
);
