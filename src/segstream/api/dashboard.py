"""A first live dashboard: segment populations and counters, plain HTML + SVG, no build step.

It polls ``/segments`` every two seconds.
"""

from __future__ import annotations

from typing import Final

DASHBOARD_HTML: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>segstream</title>
<style>
 body{font:14px system-ui,sans-serif;margin:2em;color:#222}
 h1{font-size:20px} .muted{color:#777} table{border-collapse:collapse}
 td,th{padding:2px 10px;text-align:left} .bar{fill:#3b7dd8}
</style></head><body>
<h1>segstream <span class="muted" id="clock"></span></h1>
<div id="stats"></div>
<div id="charts"></div>
<script>
async function tick(){
  const r = await fetch('/segments'); const d = await r.json();
  document.getElementById('clock').textContent = 'stream clock ' + (d.stream_clock || '-');
  const s = d.stats, rows = Object.keys(s).sort().map(k => `<tr><td>${k}</td><td>${s[k]}</td></tr>`);
  document.getElementById('stats').innerHTML = '<table>' + rows.join('') + '</table>';
  const html = Object.keys(d.segments).sort().map(dim => {
    const seg = d.segments[dim], names = d.names[dim] || {};
    const keys = Object.keys(seg).filter(k => seg[k] > 0).sort((a,b) => seg[b] - seg[a]);
    const max = Math.max(1, ...keys.map(k => seg[k]));
    const bars = keys.map((k, i) => {
      const w = 380 * seg[k] / max, y = 24 * i + 4;
      return `<text x="0" y="${y+14}">${names[k] || k}</text>`
           + `<rect class="bar" x="260" y="${y}" width="${w}" height="18"></rect>`
           + `<text x="${266+w}" y="${y+14}" data-dimension="${dim}" data-segment="${k}">${seg[k]}</text>`;
    }).join('');
    return `<h2>${dim}</h2><svg width="760" height="${24 * keys.length + 10}">${bars}</svg>`;
  }).join('');
  document.getElementById('charts').innerHTML = html;
}
tick(); setInterval(tick, 2000);
</script></body></html>
"""
