import js from '@eslint/js'
import { createNodeResolver, importX } from 'eslint-plugin-import-x'
import tseslint from 'typescript-eslint'

// No module in lib/ may import one that imports it back, type-only imports included.
// import-x's no-cycle finds the cycles but exempts `import type` edges (they vanish at
// run time); here every edge counts, so two small adapters take the exemption away
// without touching the rule's search: the modules it walks are parsed with their
// imports marked as value imports, and the file being linted shows it its own imports
// the same way (a view of each node; the AST other rules see is left as it is).

/** The TypeScript parser, with every import and re-export of the result marked a value one. */
const valueImportsParser = {
  meta: { name: 'memoredis/value-imports-parser' },
  parseForESLint(code, options) {
    const result = tseslint.parser.parseForESLint(code, options)
    for (const node of result.ast.body) {
      if (node.type === 'ImportDeclaration') node.importKind = 'value'
      else if ((node.type === 'ExportNamedDeclaration' || node.type === 'ExportAllDeclaration') && node.source) node.exportKind = 'value'
      for (const specifier of node.specifiers ?? []) {
        if ('importKind' in specifier) specifier.importKind = 'value'
        if ('exportKind' in specifier) specifier.exportKind = 'value'
      }
    }
    return result
  },
}

/** An import declaration as a value import, for no-cycle's own check of the linted file. */
function asValueImport(node) {
  const specifiers = node.specifiers.map((s) => Object.create(s, { importKind: { value: 'value' } }))
  return Object.create(node, { importKind: { value: 'value' }, specifiers: { value: specifiers } })
}

const noCycle = importX.rules['no-cycle']
/** import-x's no-cycle, counting type-only imports too. */
const noCycleAtAll = {
  ...noCycle,
  create(context) {
    const walked = Object.create(context, { languageOptions: { value: { ...context.languageOptions, parser: valueImportsParser } } })
    const visitors = noCycle.create(walked)
    const visitImport = visitors.ImportDeclaration
    return visitImport === undefined ? visitors : { ...visitors, ImportDeclaration: (node) => visitImport(asValueImport(node)) }
  },
}

export default tseslint.config(
  { ignores: ['dist/**', 'docs/api/**', 'node_modules/**', 'bench/node_modules/**', 'spec/fixtures/decorators/out-*/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', process: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // No import cycles in lib/. no-cycle passes silently over a module it cannot resolve
    // or does not read, so: imports there name their `.ts` files, no-unresolved makes sure
    // the resolver finds every one, and `.ts` must be listed as a module extension (without
    // it, import-x reads no .ts module and finds no cycle at all).
    files: ['lib/**/*.ts'],
    plugins: { 'import-x': { ...importX, rules: { ...importX.rules, 'no-cycle': noCycleAtAll } } },
    settings: { 'import-x/extensions': ['.ts'], 'import-x/resolver-next': [createNodeResolver()] },
    rules: {
      'import-x/no-cycle': 'error',
      'import-x/no-unresolved': 'error',
      // Functions fit on a screen, and a module does one thing.
      'max-lines-per-function': ['error', { max: 40, skipBlankLines: true, skipComments: true }],
      'max-lines': ['error', { max: 350 }],
    },
  },
)
