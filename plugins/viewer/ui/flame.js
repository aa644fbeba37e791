// A canvas flame graph (icicle: callers above callees), written for this viewer so the
// page needs no library and works offline. Tree nodes are {n: name, v: total, s: self,
// c: children[, b: baseline total, bs: baseline self]} as /api/v1/flamegraph sends them.
'use strict';

function formatValue(v, unit) {
  const abs = Math.abs(v);
  if (unit === 'nanoseconds') {
    if (abs >= 1e9) return (v / 1e9).toFixed(2) + ' s';
    if (abs >= 1e6) return (v / 1e6).toFixed(2) + ' ms';
    if (abs >= 1e3) return (v / 1e3).toFixed(2) + ' µs';
    return v + ' ns';
  }
  if (unit === 'bytes') {
    if (abs >= 1 << 30) return (v / (1 << 30)).toFixed(2) + ' GiB';
    if (abs >= 1 << 20) return (v / (1 << 20)).toFixed(2) + ' MiB';
    if (abs >= 1 << 10) return (v / (1 << 10)).toFixed(2) + ' KiB';
    return v + ' B';
  }
  return v.toLocaleString('en-US') + (unit && unit !== 'count' ? ' ' + unit : '');
}

function nameHue(name) {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return h;
}

class FlameGraph {
  constructor(canvas, tooltip, onZoom) {
    this.canvas = canvas;
    this.tooltip = tooltip;
    this.onZoom = onZoom || (() => {});
    this.rowHeight = 18;
    this.root = null;
    this.zoomed = null;
    this.search = '';
    this.rects = [];
    canvas.addEventListener('mousemove', (e) => this.hover(e));
    canvas.addEventListener('mouseleave', () => { this.tooltip.hidden = true; });
    canvas.addEventListener('click', (e) => {
      const r = this.hit(e);
      if (r) this.zoom(r.node);
    });
    window.addEventListener('resize', () => this.draw());
  }

  // Sets the tree; `diff` colours by the change against the baseline.
  setData(data) {
    this.data = data;
    this.unit = data.unit;
    this.diff = !!data.baseline;
    this.root = data.tree;
    this.parents = new Map();
    const walk = (n, p) => { this.parents.set(n, p); (n.c || []).forEach((c) => walk(c, n)); };
    walk(this.root, null);
    this.zoomed = this.root;
    this.draw();
  }

  zoom(node) {
    this.zoomed = node || this.root;
    this.draw();
    this.onZoom(this.path(this.zoomed));
  }

  path(node) {
    const out = [];
    for (let n = node; n; n = this.parents.get(n)) out.unshift(n);
    return out;
  }

  setSearch(text) {
    this.search = text;
    this.draw();
    return this.countMatches();
  }

  countMatches() {
    if (!this.search || !this.root) return { frames: 0, value: 0 };
    let frames = 0, value = 0;
    const walk = (n, inside) => {
      const m = n.n.includes(this.search);
      if (m) frames++;
      if (m && !inside) value += n.v;
      (n.c || []).forEach((c) => walk(c, inside || m));
    };
    walk(this.root, false);
    return { frames, value };
  }

  depth(n) {
    let d = 0;
    for (const c of n.c || []) d = Math.max(d, this.depth(c));
    return d + 1;
  }

  color(node) {
    if (this.search && node.n.includes(this.search)) return '#b63de0';
    if (this.diff) {
      const cur = this.root.v ? node.v / this.root.v : 0;
      const base = this.root.b ? (node.b || 0) / this.root.b : 0;
      const delta = cur - base;
      const k = Math.min(1, Math.abs(delta) * 8);
      const light = Math.round(92 - 42 * k);
      return delta > 0 ? `hsl(0, 75%, ${light}%)` : `hsl(120, 55%, ${light}%)`;
    }
    const h = nameHue(node.n);
    return `hsl(${10 + (h % 45)}, ${70 + (h % 20)}%, ${55 + (h % 15)}%)`;
  }

  draw() {
    const cv = this.canvas;
    const width = cv.clientWidth || cv.parentElement.clientWidth || 1000;
    const ctx = cv.getContext('2d');
    this.rects = [];
    if (!this.root) {
      cv.height = 0;
      return;
    }
    const ancestors = this.path(this.zoomed);
    const rows = ancestors.length - 1 + this.depth(this.zoomed);
    const ratio = window.devicePixelRatio || 1;
    cv.width = width * ratio;
    cv.height = rows * this.rowHeight * ratio;
    cv.style.height = rows * this.rowHeight + 'px';
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, rows * this.rowHeight);
    ctx.font = '12px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    // The zoomed frame's ancestors span the whole width above it.
    ancestors.slice(0, -1).forEach((n, i) => this.box(ctx, n, 0, i, width, true));
    const base = ancestors.length - 1;
    const scale = this.zoomed.v ? width / this.zoomed.v : 0;
    const place = (n, x, d) => {
      const w = n.v * scale;
      if (w < 0.5) return;
      this.box(ctx, n, x, base + d, w, false);
      let cx = x;
      for (const c of n.c || []) {
        place(c, cx, d + 1);
        cx += c.v * scale;
      }
    };
    place(this.zoomed, 0, 0);
  }

  box(ctx, node, x, row, w, faded) {
    const y = row * this.rowHeight;
    ctx.fillStyle = faded ? '#ddd' : this.color(node);
    ctx.fillRect(x, y, Math.max(w - 1, 0.5), this.rowHeight - 1);
    if (w > 30) {
      ctx.fillStyle = '#111';
      const label = node.n;
      const fit = Math.floor((w - 6) / 6.5);
      ctx.fillText(label.length > fit ? label.slice(0, Math.max(fit - 1, 1)) + '…' : label, x + 3, y + this.rowHeight / 2);
    }
    this.rects.push({ node, x, y, w, h: this.rowHeight - 1 });
  }

  hit(e) {
    const b = this.canvas.getBoundingClientRect();
    const x = e.clientX - b.left, y = e.clientY - b.top;
    for (let i = this.rects.length - 1; i >= 0; i--) {
      const r = this.rects[i];
      if (x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h) return r;
    }
    return null;
  }

  hover(e) {
    const r = this.hit(e);
    if (!r) {
      this.tooltip.hidden = true;
      return;
    }
    const n = r.node, u = this.unit, pct = this.root.v ? ((100 * n.v) / this.root.v).toFixed(2) : '0';
    let text = `${n.n}\ntotal ${formatValue(n.v, u)} (${pct}%)\nself ${formatValue(n.s, u)}`;
    if (this.diff) text += `\nbaseline total ${formatValue(n.b || 0, u)}, self ${formatValue(n.bs || 0, u)}`;
    this.tooltip.textContent = text;
    this.tooltip.hidden = false;
    const b = this.canvas.getBoundingClientRect();
    this.tooltip.style.left = Math.min(e.clientX - b.left + 12, b.width - 260) + 'px';
    this.tooltip.style.top = e.clientY - b.top + 14 + 'px';
  }

  // Where a frame is drawn (CSS pixels relative to the canvas), for the first frame with
  // this name; null when it is not drawn.
  frameRect(name) {
    const r = this.rects.find((x) => x.node.n === name && x.w >= 2);
    return r ? { x: r.x, y: r.y, w: r.w, h: r.h } : null;
  }

  // Functions by self and total (a function counted once per stack, recursion included).
  topFunctions(limit) {
    const self = new Map(), total = new Map();
    const onStack = new Map();
    const walk = (n, isRoot) => {
      if (!isRoot) {
        self.set(n.n, (self.get(n.n) || 0) + n.s);
        const k = onStack.get(n.n) || 0;
        if (k === 0) total.set(n.n, (total.get(n.n) || 0) + n.v);
        onStack.set(n.n, k + 1);
      }
      (n.c || []).forEach((c) => walk(c, false));
      if (!isRoot) onStack.set(n.n, onStack.get(n.n) - 1);
    };
    if (this.root) walk(this.root, true);
    return [...total.keys()]
      .map((name) => ({ name, self: self.get(name) || 0, total: total.get(name) }))
      .sort((a, b) => b.self - a.self || b.total - a.total)
      .slice(0, limit);
  }
}

window.FlameGraph = FlameGraph;
window.formatValue = formatValue;
