/**
 * The benchmark's plot, as the reference draws it: log-log runtimes against N, one line
 * per routine, "Too slow!" / "Memory overflow!" written at a routine's last point. A
 * vega-lite spec rendered headlessly to SVG by vega, and rasterised to PNG by resvg.
 */
import * as fs from 'fs';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, TopLevelSpec } from 'vega-lite';
import { Series, STOP_LABEL } from './timing';

export interface PlotText {
  title: string;
  /** Lines under the title: the problem and the machine. */
  subtitle: string[];
}

// A list, so that whichever of these the machine has is used, by vega's text layout and
// by resvg alike (resvg draws no text without a font it can find).
const FONTS = 'DejaVu Sans, Helvetica, Arial, Liberation Sans, sans-serif';

/** Powers of ten from below `lo` to above `hi`: full decades on the time axis. */
function decades(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
  return out;
}

/** The vega-lite spec of the plot. */
export function plotSpec(sizes: readonly number[], columns: readonly Series[], text: PlotText): TopLevelSpec {
  const routines = columns.map((c) => c.name);
  const points = columns.flatMap((c) =>
    c.seconds.flatMap((seconds, k) => (Number.isFinite(seconds) ? [{ routine: c.name, n: sizes[k], seconds }] : [])));
  // The reference writes why a routine stopped next to the last point it has.
  const notes = columns.flatMap((c) => {
    const last = c.seconds.map(Number.isFinite).lastIndexOf(true);
    return c.stop && last >= 0 ? [{ routine: c.name, n: sizes[last], seconds: c.seconds[last], label: STOP_LABEL[c.stop.reason] }] : [];
  });
  const times = points.map((p) => p.seconds);
  const yTicks = times.length > 0 ? decades(Math.min(...times), Math.max(...times)) : [1e-3, 1];
  const x = {
    field: 'n', type: 'quantitative' as const, title: 'Number of points N',
    scale: { type: 'log' as const, domain: [sizes[0], sizes[sizes.length - 1]] },
    // Every measured N is labelled; they are sparse enough not to overlap.
    axis: { values: [...sizes], format: '~s', labelFlush: true, labelOverlap: false },
  };
  const y = {
    field: 'seconds', type: 'quantitative' as const, title: 'Time per solve',
    scale: { type: 'log' as const, domain: [yTicks[0], yTicks[yTicks.length - 1]] },
    axis: { values: yTicks, labelExpr: "(datum.value >= 1 ? format(datum.value, ',~r') : format(datum.value, '~s')) + 's'" },
  };
  const color = {
    field: 'routine', type: 'nominal' as const, title: null, scale: { domain: routines },
    legend: { orient: 'top-left' as const, fillColor: 'white', strokeColor: '#bbb', padding: 8, labelLimit: 400 },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: text.title, subtitle: text.subtitle, anchor: 'start', fontSize: 16, subtitleFontSize: 12 },
    width: 760,
    height: 480,
    background: 'white',
    config: { font: FONTS, axis: { labelFontSize: 12, titleFontSize: 13, gridColor: '#e2e2e2' }, legend: { labelFontSize: 12 } },
    layer: [
      {
        data: { values: points },
        mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 45 } },
        encoding: { x, y, color },
      },
      {
        data: { values: notes },
        mark: { type: 'text', align: 'left', baseline: 'middle', dx: 9, fontSize: 12, fontWeight: 'bold' },
        encoding: { x, y, color, text: { field: 'label' } },
      },
    ],
  };
}

/** Renders the spec to SVG without a browser or canvas. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterises an SVG at twice its size, for a sharp picture in a README. */
export function svgToPng(svg: string): Buffer {
  return new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true } }).render().asPng();
}

/** Writes `base`.svg and `base`.png; returns their paths. */
export async function writePlots(base: string, sizes: readonly number[], columns: readonly Series[], text: PlotText): Promise<string[]> {
  const svg = await renderSvg(plotSpec(sizes, columns, text));
  fs.writeFileSync(`${base}.svg`, svg);
  fs.writeFileSync(`${base}.png`, svgToPng(svg));
  return [`${base}.svg`, `${base}.png`];
}
