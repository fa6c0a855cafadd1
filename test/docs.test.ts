/**
 * The docs stay true: every relative link of README.md, docs/ and examples/ points at a
 * file of the repository, and every TypeScript or JavaScript code block of docs/ runs
 * (against lib/, as `import … from 'lazykernel'`) without throwing. Blocks check their
 * own answers with node:assert where they compute one. A block fenced as
 * "```ts no-run" is shown, not run (a server that would not stop, a size too big for CI).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';
import * as lazykernel from '../lib/index';
import { codeBlocks, isGenerated, links, repoRoot, userMarkdown } from './helpers/markdown';

const files = userMarkdown();

test('the user-facing markdown exists', () => {
  expect(files).toEqual(expect.arrayContaining(['README.md', path.join('docs', 'README.md')]));
});

describe.each(files)('%s', (file) => {
  const text = fs.readFileSync(path.join(repoRoot, file), 'utf8');

  test('every relative link points at a file inside the repository', () => {
    const broken: string[] = [];
    for (const { target, line } of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
      const rel = decodeURIComponent(target.split('#')[0]);
      const abs = path.resolve(path.dirname(path.join(repoRoot, file)), rel);
      const inside = abs === repoRoot || abs.startsWith(repoRoot + path.sep);
      if (!inside) broken.push(`${file}:${line}: ${target} leaves the repository`);
      else if (!fs.existsSync(abs)) broken.push(`${file}:${line}: ${target} does not exist`);
    }
    expect(broken).toEqual([]);
  });

  const runnable = file.startsWith('docs') && !isGenerated(file)
    ? codeBlocks(text).filter((b) => ['ts', 'js', 'typescript', 'javascript'].includes(b.lang) && !b.flags.includes('no-run'))
    : [];
  if (runnable.length === 0) return;
  test.each(runnable.map((b) => [b.line, b] as const))('the code block at line %d runs', async (_line, block) => {
    const js = ts.transpileModule(block.code, {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    }).outputText;
    const load = (name: string): unknown => {
      if (name === 'lazykernel') return lazykernel;
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require(name);
    };
    const printed: string[] = [];
    const quiet = { ...console, log: (...a: unknown[]) => printed.push(a.map(String).join(' ')) };
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    const run = new Function('require', 'exports', 'console', `return (async () => {\n${js}\n})();`) as
      (r: typeof load, e: object, c: Console) => Promise<void>;
    await run(load, {}, quiet as Console);
  });
});
