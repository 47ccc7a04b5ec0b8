// Part of Laker; no third-party code.
//
// SVG charts built with createElementNS: a column chart (values per day)
// and a horizontal bar chart (top N). Each is a <figure> with a caption,
// axis titles, a <title> tooltip per bar and a data table in <details>.

import { h, newId, svg, table } from './dom.js';

const W = 640;

/** A "nice" upper bound for an axis: 1, 2, 2.5 or 5 × 10^k, at least `max`. */
export function niceMax(max) {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * power >= max) return step * power;
  }
  return 10 * power;
}

/** The figure shell: caption, the SVG (or an empty note) and the table. */
function figure({ id, title, labelHeader, valueHeader, data, format, draw }) {
  const captionId = newId('cap');
  const fig = h('figure', { id, 'data-testid': id, class: 'chart', 'aria-labelledby': captionId }, h('figcaption', { id: captionId, text: title }));
  if (!data.length || data.every((d) => !d.value)) {
    fig.append(h('p', { class: 'muted empty chart-empty', text: 'No data in this period.' }));
  } else {
    fig.append(draw(captionId));
  }
  fig.append(
    h(
      'details',
      { class: 'chart-table' },
      h('summary', { text: `${title}: data table` }),
      table(
        [
          { label: labelHeader, render: (d) => d.label },
          { label: valueHeader, render: (d) => format(d.value) },
        ],
        data,
        { caption: title },
      ),
    ),
  );
  return fig;
}

/** The root <svg> with its own <title> and <desc>. */
function root(height, title, desc) {
  const titleId = newId('svgt');
  const descId = newId('svgd');
  return svg(
    'svg',
    { viewBox: `0 0 ${W} ${height}`, role: 'img', 'aria-labelledby': `${titleId} ${descId}`, preserveAspectRatio: 'xMidYMid meet' },
    svg('title', { id: titleId, text: title }),
    svg('desc', { id: descId, text: desc }),
  );
}

/**
 * Vertical columns, one per data point ({label, value}); `format` renders
 * values (axis ticks, tooltips, table); `integer` for counts.
 */
export function columnChart({ id, title, xLabel, yLabel, data, format = String, unit = '', integer = false }) {
  return figure({
    id, title, labelHeader: xLabel, valueHeader: yLabel, data, format,
    draw: () => {
      const H = 260;
      const m = { left: 72, right: 12, top: 14, bottom: 52 };
      const plotW = W - m.left - m.right;
      const plotH = H - m.top - m.bottom;
      const max = niceMax(Math.max(...data.map((d) => d.value)));
      const total = data.reduce((s, d) => s + d.value, 0);
      const peak = data.reduce((a, b) => (b.value > a.value ? b : a));
      const el = root(H, title, `Total ${format(total)}${unit} over ${data.length} points; highest ${format(peak.value)}${unit} on ${peak.label}.`);
      const y = (v) => m.top + plotH - (v / max) * plotH;
      // Grid lines and y ticks.
      // Counts get whole-number ticks only.
      const ticks = [0, max / 2, max].filter((t) => !integer || Number.isInteger(t));
      for (const t of ticks) {
        el.append(
          svg('line', { class: 'grid-line', x1: m.left, x2: W - m.right, y1: y(t), y2: y(t) }),
          svg('text', { class: 'tick', x: m.left - 6, y: y(t) + 4, 'text-anchor': 'end', text: format(t) }),
        );
      }
      const band = plotW / data.length;
      const barW = Math.max(1, band * 0.72);
      const every = Math.ceil(data.length / 10);
      data.forEach((d, i) => {
        const x = m.left + i * band + (band - barW) / 2;
        const top = y(d.value);
        el.append(
          svg(
            'rect',
            { class: 'bar', x: x.toFixed(2), y: top.toFixed(2), width: barW.toFixed(2), height: Math.max(0, m.top + plotH - top).toFixed(2), 'data-label': d.label, 'data-value': d.value },
            svg('title', { text: `${d.label}: ${format(d.value)}${unit}` }),
          ),
        );
        if (i % every === 0) {
          el.append(svg('text', { class: 'tick', x: (m.left + i * band + band / 2).toFixed(2), y: m.top + plotH + 16, 'text-anchor': 'middle', text: shortDay(d.label) }));
        }
      });
      el.append(
        svg('line', { class: 'axis', x1: m.left, x2: W - m.right, y1: m.top + plotH, y2: m.top + plotH }),
        svg('text', { class: 'axis-title', x: m.left + plotW / 2, y: H - 8, 'text-anchor': 'middle', text: xLabel }),
        svg('text', { class: 'axis-title', x: -(m.top + plotH / 2), y: 16, transform: 'rotate(-90)', 'text-anchor': 'middle', text: yLabel }),
      );
      return el;
    },
  });
}

/**
 * Horizontal bars, one per data point ({label, value}), largest first:
 * `xLabel` names the values, `yLabel` the categories.
 */
export function barChart({ id, title, xLabel, yLabel, data, format = String, unit = '' }) {
  return figure({
    id, title, labelHeader: yLabel, valueHeader: xLabel, data, format,
    draw: () => {
      const rowH = 26;
      const m = { left: 170, right: 80, top: 24, bottom: 40 };
      const H = m.top + data.length * rowH + m.bottom;
      const plotW = W - m.left - m.right;
      const max = niceMax(Math.max(...data.map((d) => d.value)));
      const el = root(H, title, `${data.length} entries; largest ${data[0] ? `${data[0].label} with ${format(data[0].value)}${unit}` : 'none'}.`);
      data.forEach((d, i) => {
        const yTop = m.top + i * rowH;
        const width = (d.value / max) * plotW;
        el.append(
          svg('text', { class: 'bar-label', x: m.left - 8, y: yTop + rowH / 2 + 4, 'text-anchor': 'end', text: truncate(d.label, 22) }, svg('title', { text: d.label })),
          svg(
            'rect',
            { class: 'bar', x: m.left, y: yTop + 4, width: Math.max(0, width).toFixed(2), height: rowH - 8, 'data-label': d.label, 'data-value': d.value },
            svg('title', { text: `${d.label}: ${format(d.value)}${unit}` }),
          ),
          svg('text', { class: 'bar-value', x: (m.left + width + 6).toFixed(2), y: yTop + rowH / 2 + 4, text: format(d.value) }),
        );
      });
      const axisY = m.top + data.length * rowH;
      el.append(
        svg('line', { class: 'axis', x1: m.left, x2: m.left + plotW, y1: axisY, y2: axisY }),
        svg('text', { class: 'tick', x: m.left, y: axisY + 14, 'text-anchor': 'middle', text: format(0) }),
        svg('text', { class: 'tick', x: m.left + plotW, y: axisY + 14, 'text-anchor': 'middle', text: format(max) }),
        svg('text', { class: 'axis-title', x: m.left + plotW / 2, y: H - 6, 'text-anchor': 'middle', text: xLabel }),
        svg('text', { class: 'axis-title', x: m.left - 8, y: 14, 'text-anchor': 'end', text: yLabel }),
      );
      return el;
    },
  });
}

/** "2026-12-07" → "12-07" (other labels unchanged). */
function shortDay(label) {
  return /^\d{4}-\d{2}-\d{2}$/.test(label) ? label.slice(5) : label;
}

function truncate(text, n) {
  const s = String(text);
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
