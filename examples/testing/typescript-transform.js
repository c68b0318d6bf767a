// jest's transform for TypeScript test files: TypeScript's own `transpileModule`, which removes the
// types and keeps the ES modules, with no type check (run `tsc --noEmit` for that) and no Babel.
import ts from 'typescript'

/** @type {import('@jest/transform').SyncTransformer} */
export default {
  process(sourceText, sourcePath) {
    const { outputText, sourceMapText } = ts.transpileModule(sourceText, {
      fileName: sourcePath,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2023,
        sourceMap: true,
        verbatimModuleSyntax: true,
      },
    })
    return { code: outputText, map: sourceMapText }
  },
}
