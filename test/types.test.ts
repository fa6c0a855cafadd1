/**
 * The types a caller gets: test/types/usage.ts (typed usage and mistakes that must not
 * compile) and every TypeScript block of the docs, compiled with the strict options a
 * user's project would have, 'lazykernel' resolving to lib/.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';
import { codeBlocks, isGenerated, repoRoot, userMarkdown } from './helpers/markdown';

function compile(files: string[]): string[] {
  const program = ts.createProgram(files, {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022,
    moduleResolution: ts.ModuleResolutionKind.Bundler, esModuleInterop: true, skipLibCheck: true,
    types: ['node'], typeRoots: [path.join(repoRoot, 'node_modules', '@types')],
    baseUrl: repoRoot, paths: { lazykernel: ['lib/index.ts'] },
  });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file ? `${path.relative(repoRoot, d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}: ` : '';
    return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
  });
}

test('typed usage compiles, and the mistakes in it do not', () => {
  expect(compile([path.join(__dirname, 'types', 'usage.ts')])).toEqual([]);
});

test('every TypeScript block of the docs compiles', () => {
  const dir = path.join(repoRoot, 'build', 'doc-blocks');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (const md of userMarkdown().filter((f) => !isGenerated(f))) {
    const text = fs.readFileSync(path.join(repoRoot, md), 'utf8');
    for (const b of codeBlocks(text)) {
      if (!['ts', 'typescript'].includes(b.lang)) continue;
      const file = path.join(dir, `${md.replace(/[\\/]/g, '__')}-${b.line}.ts`);
      // Each block is a module of its own (top-level await needs one).
      fs.writeFileSync(file, `${b.code}\nexport {};\n`);
      files.push(file);
    }
  }
  expect(files.length).toBeGreaterThan(0);
  expect(compile(files)).toEqual([]);
});
