// The trace waterfall: one row per span, nested under its parent, a bar at its offset
// from the trace start. Clicking a span shows its tags and annotations and a link to the
// profiles of its service around it.
'use strict';

function fmtUs(us) {
  if (us >= 1e6) return (us / 1e6).toFixed(2) + ' s';
  if (us >= 1e3) return (us / 1e3).toFixed(2) + ' ms';
  return us + ' µs';
}

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

class Waterfall {
  constructor(container, detail, profileLink) {
    this.container = container;
    this.detail = detail;
    this.profileLink = profileLink; // span → URL hash of its flame graph
  }

  render(trace) {
    this.trace = trace;
    this.container.textContent = '';
    this.detail.hidden = true;
    const total = Math.max(trace.duration_us, 1);
    const rows = [];
    const walk = (s) => { rows.push(s); s.children.forEach(walk); };
    trace.spans.forEach(walk);
    for (const s of rows) {
      const row = el('div', { class: 'span-row', 'data-span-id': s.span_id, 'data-depth': String(s.depth),
        'data-resource': s.resource });
      const label = el('div', { class: 'span-label', title: s.resource });
      label.style.paddingLeft = 6 + 16 * s.depth + 'px';
      label.textContent = `${s.service}: ${s.resource}`;
      if (s.status === 'error') label.classList.add('err');
      const track = el('div', { class: 'span-track' });
      const left = (100 * s.offset_us) / total, width = (100 * s.duration_us) / total;
      const bar = el('div', { class: 'span-bar' + (s.status === 'error' ? ' error' : '') });
      bar.style.left = left + '%';
      bar.style.width = width + '%';
      const time = el('span', { class: 'span-time' }, fmtUs(s.duration_us) + ' @ ' + fmtUs(s.offset_us));
      time.style.left = Math.min(left + width, 85) + '%';
      track.append(bar, time);
      row.append(label, track);
      row.addEventListener('click', () => this.select(s, row));
      this.container.append(row);
    }
  }

  select(s, row) {
    this.container.querySelectorAll('.span-row.selected').forEach((r) => r.classList.remove('selected'));
    row.classList.add('selected');
    const d = this.detail;
    d.textContent = '';
    d.append(el('h3', {}, `${s.service}: ${s.resource}`));
    const facts = el('table', { class: 'span-facts' });
    const add = (k, v) => {
      const tr = el('tr');
      tr.append(el('th', {}, k), el('td', {}, v));
      facts.append(tr);
    };
    add('span id', s.span_id);
    add('parent id', s.parent_id);
    add('start', new Date(s.start_us / 1000).toISOString() + ` (+${fmtUs(s.offset_us)})`);
    add('duration', fmtUs(s.duration_us));
    add('status', s.status);
    if (s.error) add('error', s.error);
    for (const [k, v] of Object.entries(s.tags || {})) add(k, v);
    d.append(facts);
    const link = el('a', { id: 'span-profiles-link', href: this.profileLink(s) }, 'profiles of this service around this span');
    d.append(el('p', {}), link);
    if (s.message !== undefined) {
      d.append(el('h4', {}, 'annotations and events'));
      d.append(el('pre', {}, typeof s.message === 'string' ? s.message : JSON.stringify(s.message, null, 2)));
    }
    d.hidden = false;
  }
}

window.Waterfall = Waterfall;
