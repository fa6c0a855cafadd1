/**
 * The density as a heat map: a vega-lite spec rendered headlessly to SVG by vega (no
 * browser, no canvas), rasterised to PNG by resvg.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile } from 'vega-lite';

// Whichever of these the machine has is used, by vega's text layout and resvg alike
// (resvg draws no text without a font it can find).
const FONTS = 'DejaVu Sans, Helvetica, Arial, Liberation Sans, sans-serif';

/** One rect per grid cell, coloured by the density (not its log: the ring and blob read as shapes). */
function heatMapSpec({ centres, cell, logDensity, title, subtitle }) {
  const values = Array.from(logDensity, (v, i) => {
    const x = centres[2 * i];
    const y = centres[2 * i + 1];
    return { x: x - cell / 2, x2: x + cell / 2, y: y - cell / 2, y2: y + cell / 2, density: Math.exp(v) };
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, subtitle, anchor: 'start', fontSize: 15, subtitleFontSize: 12 },
    // 480 px is a whole number of pixels per cell for both grids (120 and 48 cells):
    // cell edges on pixel edges leave no anti-aliased seams between the rects.
    width: 480,
    height: 480,
    background: 'white',
    config: { font: FONTS, view: { stroke: null }, axis: { grid: false } },
    data: { values },
    mark: { type: 'rect', strokeWidth: 0 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: 'x₀', scale: { zero: false, nice: false } },
      x2: { field: 'x2' },
      y: { field: 'y', type: 'quantitative', title: 'x₁', scale: { zero: false, nice: false } },
      y2: { field: 'y2' },
      color: { field: 'density', type: 'quantitative', title: 'density', scale: { scheme: 'viridis' } },
    },
  };
}

/** Writes `name`.svg and `name`.png under `dir`; returns their paths. */
export async function writeHeatMap(dir, name, plot) {
  const view = new vega.View(vega.parse(compile(heatMapSpec(plot)).spec), { renderer: 'none' });
  let svg;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  const png = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true } }).render().asPng();
  fs.mkdirSync(dir, { recursive: true });
  const files = [path.join(dir, `${name}.svg`), path.join(dir, `${name}.png`)];
  fs.writeFileSync(files[0], svg);
  fs.writeFileSync(files[1], png);
  return files;
}
