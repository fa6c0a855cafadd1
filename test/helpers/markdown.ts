/**
 * The user-facing markdown (README.md, docs/, examples/): its files, its relative links
 * and its code blocks, for the tests that keep the docs true.
 */
import * as fs from 'fs';
import * as path from 'path';

export const repoRoot = path.resolve(__dirname, '..', '..');

/** Every markdown file a user reads, relative to the repository root (sorted). */
export function userMarkdown(): string[] {
  const found: string[] = ['README.md'];
  const walk = (dir: string): void => {
    const abs = path.join(repoRoot, dir);
    if (!fs.existsSync(abs)) return;
    for (const entry of fs.readdirSync(abs, { withFileTypes: true })) {
      const rel = path.join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== 'node_modules') walk(rel);
      else if (entry.isFile() && entry.name.endsWith('.md')) found.push(rel);
    }
  };
  walk('docs');
  walk('examples');
  return found.sort();
}

/**
 * True for markdown generated from the TSDoc (docs/api/): its code blocks are the TSDoc's
 * fragments, not programs, so they are linked but not run.
 */
export function isGenerated(file: string): boolean {
  return file.split(/[\\/]/).slice(0, 2).join('/') === 'docs/api';
}

/** A link of a markdown file: its target as written and the line it is on. */
export interface Link { target: string; line: number }

/** The inline links and images of a markdown text, outside code blocks and code spans. */
export function links(markdown: string): Link[] {
  const out: Link[] = [];
  let fenced = false;
  markdown.split('\n').forEach((text, k) => {
    if (/^\s*```/.test(text)) fenced = !fenced;
    if (fenced) return;
    const prose = text.replace(/`[^`]*`/g, '');
    for (const m of prose.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) out.push({ target: m[1], line: k + 1 });
    for (const m of prose.matchAll(/^\s*\[[^\]]+\]:\s+(\S+)/g)) out.push({ target: m[1], line: k + 1 });
  });
  return out;
}

/** A fenced code block: its language, its info words after the language, its text. */
export interface CodeBlock { lang: string; flags: string[]; code: string; line: number }

/** The fenced code blocks of a markdown text. */
export function codeBlocks(markdown: string): CodeBlock[] {
  const out: CodeBlock[] = [];
  const lines = markdown.split('\n');
  for (let k = 0; k < lines.length; k++) {
    const open = /^\s*```(\S*)\s*(.*)$/.exec(lines[k]);
    if (!open) continue;
    const start = k;
    const body: string[] = [];
    for (k++; k < lines.length && !/^\s*```\s*$/.test(lines[k]); k++) body.push(lines[k]);
    out.push({ lang: open[1], flags: open[2].split(/\s+/).filter(Boolean), code: body.join('\n'), line: start + 1 });
  }
  return out;
}
