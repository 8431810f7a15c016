// The lint rules for src/, spec/, scripts/ and bin/ (`npm run lint`, run by .ci/run right after
// `npm ci`). ESLint judges the code; Prettier (.prettierrc.json) owns the layout, so
// eslint-config-prettier switches off every rule the formatter already decides. The one layout
// rule kept is the line length: Prettier cannot break strings, template literals, regexes, URLs
// or comments, so max-len catches what it leaves long.
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import prettier from 'eslint-config-prettier';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    // Generated (dist), vendored (node_modules), the platform's own files (stacks, provision,
    // examples) and byte-compared test data (goldens, fixtures).
    ignores: [
      'dist/',
      'node_modules/',
      'stacks/',
      'provision/',
      'examples/',
      'spec/golden/',
      'spec/fixtures/',
      '.paasbox/',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  prettier,
  {
    languageOptions: { globals: { ...globals.node } },
    plugins: { '@stylistic': stylistic },
    rules: {
      // Leaving a field out by destructuring (`const { flags: _f, ...rest } = layers`) and unused
      // callback parameters are written with a leading underscore; that is the signal, not a slip.
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      // `ok ? resolve() : reject(err)` and `cond && fn()` in callbacks are statements by intent;
      // a bare expression with no effect (a chai property read, a comma list) is still an error.
      '@typescript-eslint/no-unused-expressions': ['error', { allowShortCircuit: true, allowTernary: true }],
      // 110 columns, as Prettier's printWidth. Strings, template literals, regexes and URLs are
      // exempt because the formatter cannot break them and splitting them by hand hurts grep.
      // Comments count: they are prose, rewrapped by hand when they run long.
      '@stylistic/max-len': [
        'error',
        {
          code: 110,
          ignoreStrings: true,
          ignoreTemplateLiterals: true,
          ignoreRegExpLiterals: true,
          ignoreUrls: true,
        },
      ],
    },
  },
  {
    files: ['spec/**/*.ts'],
    languageOptions: { globals: { ...globals.mocha } },
  },
);
