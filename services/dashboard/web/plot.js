// mixsweep dashboard: the log-log plot of seed 000's Figures 4 to 7, as
// inline SVG built with DOM calls (no library, no innerHTML).
//
// One plot is one (scenario, source): success rate S against the number of
// teleop demos N_tele, both axes logarithmic;
//   - teleop-only points (seed mean, error bar = population std over seeds),
//   - the power law S = alpha N^beta fitted on them, solid across the teleop
//     range and dotted beyond it,
//   - each mixed point (N'_t, S_mix) with a horizontal arrow to N_eq, the
//     teleop count the fit needs for the same S: green when eta > 0 (the
//     non-teleop data helped), red when eta < 0 (it hurt), grey when eta is
//     undefined.
// Points with S = 0 (or no result) cannot sit on a log axis: they are left
// out and counted under the plot.
//
// A scaling plot (seed 001, Fig. 5: model.scaling) draws one source's own
// curve instead: its points (S against N source demos) in `teleop`, the
// power law fitted on them in `fit`, no mixed points and no arrows;
// model.xLabel and model.pointLabel name the axis and the points, and the
// points carry data-role source-point.
//
// Every drawn element carries data-role (teleop-point, mixed-point,
// fit-line, fit-extrapolation, neq-arrow, error-bar, zero-note) so that a
// browser test can count them.
//
//   const svg = MixPlot.render({
//     title: 'in_domain, sim', sourceName: 'sim', sourceKind: 'simulation',
//     teleop: [{n: 50, s: 0.3, std: 0.05, nSeeds: 3}],
//     mixed: [{nTele: 50, nNt: 1000, s: 0.4, std: 0, nSeeds: 3, nEq: 90,
//              etaStatus: 'STATUS_DEFINED', etaValue: 25, signEstablished: true}],
//     fit: {defined: true, alpha: 0.05, beta: 0.45, rSquared: 0.99},
//   });
//   container.append(svg);
'use strict';

(function (global) {
  const NS = 'http://www.w3.org/2000/svg';
  const COLORS = {
    teleop: '#1f5fbf',
    fit: '#1f5fbf',
    positive: '#15803d',
    negative: '#c0262d',
    undefined: '#8a8f98',
    grid: '#e3e6ea',
    minorGrid: '#f1f3f5',
    axis: '#4b5563',
    text: '#1f2937',
    muted: '#6b7280',
  };
  // Marker colour of the mixed points, by source kind.
  const SOURCE_COLORS = {
    simulation: '#e07b00',
    human_video: '#7c3aed',
    other: '#0f766e',
  };
  // One marker shape per mixed N_nt of a plot, in ascending N_nt.
  const SHAPES = ['square', 'diamond', 'triangle', 'triangleDown', 'cross'];

  let uid = 0;

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null) continue;
        e.setAttribute(k, String(v));
      }
    }
    if (parent) parent.appendChild(e);
    return e;
  }

  function label(parent, x, y, str, attrs) {
    const t = el('text', Object.assign({x: round(x), y: round(y)}, attrs || {}), parent);
    t.textContent = str;
    return t;
  }

  function tooltip(parent, str) {
    const t = el('title', null, parent);
    t.textContent = str;
    return t;
  }

  function round(v) {
    return Math.round(v * 10) / 10;
  }

  function finite(v) {
    return typeof v === 'number' && Number.isFinite(v);
  }

  // Numbers for axis ticks and labels: 3 significant digits, thousands
  // separators, no trailing zeros, a true minus sign.
  function fmt(v, digits) {
    if (!finite(v)) return Number.isNaN(v) ? '\u2014' : v > 0 ? '\u221e' : '\u2212\u221e';
    const d = digits || 3;
    let s;
    const a = Math.abs(v);
    if (a >= 1000) {
      s = Math.round(a).toLocaleString('en-US');
    } else if (a === 0) {
      s = '0';
    } else {
      s = String(Number(a.toPrecision(d)));
      if (s.includes('e')) s = a.toExponential(d - 1);
    }
    return (v < 0 ? '\u2212' : '') + s;
  }

  function fmtSigned(v, digits) {
    if (!finite(v)) return fmt(v, digits);
    return (v > 0 ? '+' : '') + fmt(v, digits);
  }

  // A log scale mapping [lo, hi] onto [a, b] (pixels).
  function logScale(lo, hi, a, b) {
    const l0 = Math.log10(lo);
    const l1 = Math.log10(hi);
    const f = (v) => a + ((Math.log10(v) - l0) / (l1 - l0)) * (b - a);
    f.lo = lo;
    f.hi = hi;
    return f;
  }

  // Padded log domain around positive values; a single value gets a decade
  // on each side, none gets [fallbackLo, fallbackHi].
  function logDomain(values, pad, fallbackLo, fallbackHi) {
    const v = values.filter((x) => finite(x) && x > 0);
    if (v.length === 0) return [fallbackLo, fallbackHi];
    let lo = Math.min(...v);
    let hi = Math.max(...v);
    if (hi / lo < 1.0001) {
      lo /= 3;
      hi *= 3;
    }
    const span = Math.log10(hi) - Math.log10(lo);
    const p = Math.max(span * pad, 0.06);
    return [Math.pow(10, Math.log10(lo) - p), Math.pow(10, Math.log10(hi) + p)];
  }

  // Tick values m * 10^k within [lo, hi] for the multipliers given.
  function decadeTicks(lo, hi, mults) {
    const out = [];
    for (let k = Math.floor(Math.log10(lo)) - 1; k <= Math.ceil(Math.log10(hi)); k++) {
      for (const m of mults) {
        const v = m * Math.pow(10, k);
        if (v >= lo * 0.9999 && v <= hi * 1.0001) out.push(Number(v.toPrecision(6)));
      }
    }
    return out;
  }

  // Keeps the labels at least `gap` pixels apart, earlier ones first.
  function spaced(ticks, pos, gap) {
    const kept = [];
    for (const t of ticks) {
      const p = pos(t);
      if (kept.every((k) => Math.abs(pos(k) - p) >= gap)) kept.push(t);
    }
    return kept;
  }

  function marker(parent, shape, x, y, size, attrs) {
    const r = size;
    let d;
    switch (shape) {
      case 'diamond':
        d = `M${x} ${y - r * 1.3}L${x + r * 1.3} ${y}L${x} ${y + r * 1.3}L${x - r * 1.3} ${y}Z`;
        break;
      case 'triangle':
        d = `M${x} ${y - r * 1.3}L${x + r * 1.2} ${y + r}L${x - r * 1.2} ${y + r}Z`;
        break;
      case 'triangleDown':
        d = `M${x} ${y + r * 1.3}L${x + r * 1.2} ${y - r}L${x - r * 1.2} ${y - r}Z`;
        break;
      case 'cross':
        d = `M${x - r} ${y - r}L${x + r} ${y + r}M${x + r} ${y - r}L${x - r} ${y + r}`;
        break;
      case 'circle':
        return el('circle', Object.assign({cx: round(x), cy: round(y), r: r}, attrs), parent);
      default:
        d = `M${x - r} ${y - r}H${x + r}V${y + r}H${x - r}Z`;
    }
    return el('path', Object.assign({d: d.replace(/(\d+\.\d)\d+/g, '$1')}, attrs), parent);
  }

  function arrowColor(sign) {
    return sign === 'positive' ? COLORS.positive
      : sign === 'negative' ? COLORS.negative : COLORS.undefined;
  }

  // The sign class of a mixed point's eta: positive (N_eq > N'_t), negative
  // (N_eq < N'_t), or undefined.
  function signOf(m) {
    if (m.etaStatus === 'STATUS_DEFINED' && finite(m.etaValue) && m.etaValue !== 0) {
      return m.etaValue > 0 ? 'positive' : 'negative';
    }
    return 'undefined';
  }

  // Whether a mixed point gets an arrow: it is drawn, and its N_eq is a
  // finite positive number different from N'_t on a fit with beta > 0.
  function hasArrow(m, fit) {
    return finite(m.s) && m.s > 0 && fit && fit.defined && finite(fit.beta) && fit.beta > 0 &&
      finite(m.nEq) && m.nEq > 0 && m.nEq !== m.nTele;
  }

  function render(model) {
    const id = ++uid;
    const teleop = (model.teleop || []).filter((p) => finite(p.n) && p.n > 0);
    const mixed = (model.mixed || []).filter((p) => finite(p.nTele) && p.nTele > 0);
    const fit = model.fit || {defined: false};
    const fitOk = fit.defined && finite(fit.alpha) && fit.alpha > 0 && finite(fit.beta);
    const drawable = (p) => finite(p.s) && p.s > 0;
    const teleopDrawn = teleop.filter(drawable);
    const mixedDrawn = mixed.filter(drawable);
    const zeroTeleop = teleop.length - teleopDrawn.length;
    const zeroMixed = mixed.length - mixedDrawn.length;
    const sourceColor = SOURCE_COLORS[model.sourceKind] || SOURCE_COLORS.other;
    const nNts = [...new Set(mixed.map((m) => m.nNt))].sort((a, b) => a - b);
    const shapeOf = (nNt) => SHAPES[Math.max(0, nNts.indexOf(nNt)) % SHAPES.length];
    const scaling = model.scaling === true;
    const pointLabel = model.pointLabel || 'teleop only';
    const pointRole = scaling ? 'source-point' : 'teleop-point';
    const pointColor = scaling ? sourceColor : COLORS.teleop;

    // Geometry (viewBox units; the SVG scales to its container's width).
    const W = 480;
    const legendRows = scaling ? 1 : 3 + Math.max(1, nNts.length);
    const P = {l: 58, r: 16, t: 14};
    const plotBottom = 286;
    const H = plotBottom + 50 + legendRows * 17 + (zeroTeleop + zeroMixed > 0 ? 18 : 0) + 6;
    const x0 = P.l;
    const x1 = W - P.r;
    const y0 = P.t;
    const y1 = plotBottom;

    // x domain: every measured N, and each N_eq unless it is far off-scale.
    const measuredN = [...teleop.map((p) => p.n), ...mixed.map((p) => p.nTele)];
    const nMin = measuredN.length ? Math.min(...measuredN) : 10;
    const nMax = measuredN.length ? Math.max(...measuredN) : 1000;
    const arrowN = mixedDrawn.filter((m) => hasArrow(m, fit)).map((m) => m.nEq)
      .filter((n) => n >= nMin / 8 && n <= nMax * 8);
    const [xlo, xhi] = logDomain([...measuredN, ...arrowN], 0.08, 10, 1000);
    const xs = logScale(xlo, xhi, x0, x1);

    // y domain: every drawn S with its error bar's top (and bottom when > 0).
    const yvals = [];
    for (const p of [...teleopDrawn, ...mixedDrawn]) {
      yvals.push(p.s);
      if (finite(p.std) && p.std > 0) {
        yvals.push(p.s + p.std);
        if (p.s - p.std > 0) yvals.push(p.s - p.std);
      }
    }
    let [ylo, yhi] = logDomain(yvals, 0.1, 0.05, 1);
    yhi = Math.min(yhi, 1.25);
    if (ylo >= yhi) ylo = yhi / 10;
    const ys = logScale(ylo, yhi, y1, y0);

    const svg = el('svg', {
      xmlns: NS,
      viewBox: `0 0 ${W} ${H}`,
      class: 'mixplot',
      role: 'img',
      'aria-label': model.ariaLabel || model.title || 'success rate versus teleop demos',
      'data-role': 'plot-svg',
    });
    tooltip(svg, model.ariaLabel || model.title || '');
    const clipId = `mixplot-clip-${id}`;
    const defs = el('defs', null, svg);
    el('rect', {x: x0, y: y0, width: x1 - x0, height: y1 - y0}, el('clipPath', {id: clipId}, defs));

    // Frame and grid.
    el('rect', {x: x0, y: y0, width: x1 - x0, height: y1 - y0, fill: '#ffffff',
      stroke: '#cfd4da'}, svg);
    const grid = el('g', {'data-role': 'grid'}, svg);
    for (const v of decadeTicks(xlo, xhi, [2, 3, 4, 5, 6, 7, 8, 9])) {
      el('line', {x1: round(xs(v)), x2: round(xs(v)), y1: y0, y2: y1, stroke: COLORS.minorGrid}, grid);
    }
    for (const v of decadeTicks(xlo, xhi, [1])) {
      el('line', {x1: round(xs(v)), x2: round(xs(v)), y1: y0, y2: y1, stroke: COLORS.grid}, grid);
    }
    const yMults = decadeTicks(ylo, yhi, [1, 2, 5]).length >= 3 ? [1, 2, 5]
      : [1, 1.5, 2, 3, 5, 7];
    const yTicks = decadeTicks(ylo, Math.min(yhi, 1), yMults);
    for (const v of yTicks) {
      el('line', {x1: x0, x2: x1, y1: round(ys(v)), y2: round(ys(v)), stroke: COLORS.grid}, grid);
    }

    // Axes: x ticks at the measured N values first, then powers of ten.
    const axes = el('g', {'data-role': 'axes', fill: COLORS.text, 'font-size': 11}, svg);
    el('line', {x1: x0, x2: x1, y1: y1, y2: y1, stroke: COLORS.axis}, axes);
    el('line', {x1: x0, x2: x0, y1: y0, y2: y1, stroke: COLORS.axis}, axes);
    const measuredTicks = [...new Set(measuredN)].sort((a, b) => a - b);
    const powerTicks = decadeTicks(xlo, xhi, [1]);
    const xTicks = spaced([...measuredTicks, ...powerTicks], xs, 26);
    for (const v of xTicks) {
      const x = round(xs(v));
      const major = measuredTicks.includes(v);
      el('line', {x1: x, x2: x, y1: y1, y2: y1 + 5, stroke: COLORS.axis}, axes);
      label(axes, x, y1 + 17, fmt(v), {'text-anchor': 'middle',
        'font-weight': major ? 600 : 400, 'data-role': 'x-tick'});
    }
    for (const v of spaced(yTicks, ys, 13)) {
      const y = round(ys(v));
      el('line', {x1: x0 - 5, x2: x0, y1: y, y2: y, stroke: COLORS.axis}, axes);
      label(axes, x0 - 8, y + 4, fmt(v), {'text-anchor': 'end', 'data-role': 'y-tick'});
    }
    label(axes, (x0 + x1) / 2, y1 + 36, model.xLabel || 'teleop demos N_tele (log)',
      {'text-anchor': 'middle', 'font-size': 12, 'font-weight': 600});
    const yl = label(axes, 0, 0, 'success rate S (log)',
      {'text-anchor': 'middle', 'font-size': 12, 'font-weight': 600});
    yl.setAttribute('transform', `translate(15 ${round((y0 + y1) / 2)}) rotate(-90)`);

    const data = el('g', {'clip-path': `url(#${clipId})`}, svg);

    // The fitted power law: a straight line on log-log axes.
    if (fitOk) {
      const f = (n) => fit.alpha * Math.pow(n, fit.beta);
      const at = (n) => [round(xs(n)), round(ys(f(n)))];
      const [ex0, ey0] = at(xlo);
      const [ex1, ey1] = at(xhi);
      el('line', {x1: ex0, y1: ey0, x2: ex1, y2: ey1, stroke: COLORS.fit, 'stroke-width': 1.2,
        'stroke-dasharray': '2 4', opacity: 0.55, 'data-role': 'fit-extrapolation'}, data);
      const teleN = teleopDrawn.map((p) => p.n);
      if (teleN.length) {
        const [fx0, fy0] = at(Math.min(...teleN));
        const [fx1, fy1] = at(Math.max(...teleN));
        const line = el('line', {x1: fx0, y1: fy0, x2: fx1, y2: fy1, stroke: COLORS.fit,
          'stroke-width': 2.2, 'stroke-dasharray': '8 5', 'data-role': 'fit-line',
          'data-alpha': fit.alpha, 'data-beta': fit.beta}, data);
        tooltip(line, `power-law fit S = ${fmt(fit.alpha)} \u00b7 N^${fmt(fit.beta)}` +
          (finite(fit.rSquared) ? `, R\u00b2 = ${fit.rSquared.toFixed(3)}` : ''));
      }
    }

    // Error bars: seed std, clipped at the bottom of the axis.
    const errorBar = (x, p, color) => {
      if (!(finite(p.std) && p.std > 0 && (p.nSeeds || 0) > 1)) return;
      const top = ys(Math.min(p.s + p.std, yhi));
      const bottom = p.s - p.std > ylo ? ys(p.s - p.std) : y1;
      const g = el('g', {stroke: color, 'stroke-width': 1.3, 'data-role': 'error-bar'}, data);
      el('line', {x1: round(x), x2: round(x), y1: round(top), y2: round(bottom)}, g);
      el('line', {x1: round(x - 4), x2: round(x + 4), y1: round(top), y2: round(top)}, g);
      if (p.s - p.std > ylo) el('line', {x1: round(x - 4), x2: round(x + 4), y1: round(bottom),
        y2: round(bottom)}, g);
    };

    // Mixed points sit at N'_t, dodged a few pixels right of the teleop
    // point at the same N so that both error bars stay visible (the arrow
    // starts at the marker; the tooltip has the exact numbers).
    const nudge = 5;

    // Arrows first, so that the markers sit on top of them.
    const arrows = el('g', {'data-role': 'arrows'}, svg);
    const labels = [];
    for (const m of mixedDrawn) {
      if (!hasArrow(m, fit)) continue;
      const sign = signOf(m);
      const color = arrowColor(sign);
      const y = ys(m.s);
      const xa = xs(m.nTele) + nudge;
      const clipped = m.nEq < xlo || m.nEq > xhi;
      const xb = clipped ? (m.nEq > xhi ? x1 - 2 : x0 + 2) : xs(m.nEq);
      const dir = xb >= xa ? 1 : -1;
      const weak = m.signEstablished !== true;
      const g = el('g', {'data-role': 'neq-arrow', 'data-sign': sign, 'data-n-tele': m.nTele,
        'data-n-nt': m.nNt, 'data-n-eq': m.nEq, 'data-clipped': clipped ? 'true' : 'false',
        'data-established': weak ? 'false' : 'true', opacity: weak ? 0.6 : 1}, arrows);
      const head = 7;
      const shaftEnd = Math.abs(xb - xa) > head + 6 ? xb - dir * head : xa;
      el('line', {x1: round(xa + dir * 6), x2: round(shaftEnd), y1: round(y), y2: round(y),
        stroke: color, 'stroke-width': 2, 'stroke-dasharray': '6 3'}, g);
      el('path', {d: `M${round(xb)} ${round(y)}L${round(xb - dir * head)} ${round(y - 4.5)}` +
        `L${round(xb - dir * head)} ${round(y + 4.5)}Z`, fill: color}, g);
      if (!clipped) {
        // Where the arrow meets the fit: the equivalent teleop count.
        el('circle', {cx: round(xb), cy: round(y), r: 2.2, fill: '#ffffff', stroke: color,
          'stroke-width': 1.2}, g);
      }
      const etaText = sign === 'undefined' ? '\u03b7 undefined'
        : `\u03b7 ${fmtSigned(m.etaValue)}${weak ? '?' : ''}`;
      tooltip(g, `${m.nTele} teleop + ${fmt(m.nNt)} ${model.sourceName || 'non-teleop'}: ` +
        `S_mix = ${m.s.toFixed(3)}, N_eq = ${fmt(m.nEq)} teleop demos, ${etaText}` +
        (m.signEstablished === true ? ' (sign established)'
          : m.signEstablished === false ? ' (sign not established)' : '') +
        (clipped ? ' (N_eq off the axis)' : ''));
      labels.push({x: (xa + xb) / 2, y: y - 7, text: etaText + (clipped ? ` (N_eq ${fmt(m.nEq)})` : ''),
        color, span: Math.abs(xb - xa), xa, xb, dir, weak});
    }

    for (const p of teleopDrawn) errorBar(xs(p.n), p, pointColor);
    for (const m of mixedDrawn) errorBar(xs(m.nTele) + nudge, m, sourceColor);

    const points = el('g', {'data-role': 'points'}, svg);
    for (const p of teleopDrawn) {
      const c = marker(points, 'circle', xs(p.n), ys(p.s), 5, {fill: pointColor,
        stroke: '#ffffff', 'stroke-width': 1.2, 'data-role': pointRole, 'data-n': p.n,
        'data-s': p.s});
      tooltip(c, `${pointLabel}, ${scaling ? 'N' : 'N_tele'} = ${fmt(p.n)}: S = ${p.s.toFixed(3)}` +
        (finite(p.std) && (p.nSeeds || 0) > 1 ? ` \u00b1 ${p.std.toFixed(3)}` : '') +
        ` (${p.nSeeds || 0} seed${p.nSeeds === 1 ? '' : 's'}` +
        (p.trials ? `, ${p.trials} trials)` : ')'));
    }
    for (const m of mixedDrawn) {
      const c = marker(points, shapeOf(m.nNt), xs(m.nTele) + nudge, ys(m.s), 4.8, {
        fill: sourceColor, stroke: '#ffffff', 'stroke-width': 1.2, 'data-role': 'mixed-point',
        'data-n-tele': m.nTele, 'data-n-nt': m.nNt, 'data-s': m.s, 'data-sign': signOf(m)});
      tooltip(c, `${fmt(m.nTele)} teleop + ${fmt(m.nNt)} ${model.sourceName || ''}: ` +
        `S_mix = ${m.s.toFixed(3)}` +
        (finite(m.std) && (m.nSeeds || 0) > 1 ? ` \u00b1 ${m.std.toFixed(3)}` : '') +
        ` (${m.nSeeds || 0} seed${m.nSeeds === 1 ? '' : 's'})`);
    }

    // Eta labels on top, with a white halo; each takes the first of a few
    // places (above the arrow's middle, below it, beyond its tip) that does
    // not overlap a label already placed or leave the plot.
    const labelGroup = el('g', {'font-size': 11, 'font-weight': 700, 'data-role': 'eta-labels'}, svg);
    // Obstacles: the arrows' shafts and every marker.
    const placed = [];
    for (const l of labels) {
      placed.push({x0: Math.min(l.xa, l.xb), x1: Math.max(l.xa, l.xb), y0: l.y + 7 - 3, y1: l.y + 7 + 3});
    }
    for (const p of teleopDrawn) {
      placed.push({x0: xs(p.n) - 6, x1: xs(p.n) + 6, y0: ys(p.s) - 6, y1: ys(p.s) + 6});
    }
    for (const m of mixedDrawn) {
      const x = xs(m.nTele) + nudge;
      placed.push({x0: x - 6, x1: x + 6, y0: ys(m.s) - 6, y1: ys(m.s) + 6});
    }
    const overlaps = (b) => placed.some((p) => b.x0 < p.x1 + 3 && p.x0 < b.x1 + 3 &&
      b.y0 < p.y1 + 1 && p.y0 < b.y1 + 1);
    const boxOf = (x, y, anchor, width) => {
      const left = anchor === 'middle' ? x - width / 2 : anchor === 'end' ? x - width : x;
      return {x0: left, x1: left + width, y0: y - 10, y1: y + 2};
    };
    const inside = (b) => b.x0 >= x0 + 1 && b.x1 <= x1 - 1 && b.y0 >= y0 && b.y1 <= y1 - 1;
    for (const l of labels) {
      const width = l.text.length * 6.3;
      const mid = Math.min(Math.max((l.xa + l.xb) / 2, x0 + width / 2 + 2), x1 - width / 2 - 2);
      const tip = l.xb + l.dir * 6;
      const tipAnchor = l.dir > 0 ? 'start' : 'end';
      const tail = l.xa - l.dir * 9;
      const tailAnchor = l.dir > 0 ? 'end' : 'start';
      const y = l.y;
      // y is 7 px above the arrow; the label's baseline sits at y. First
      // choice: along the shaft next to its own mixed point, so that arrows
      // that overlap (two mixed points with the same S) keep their labels
      // apart; then the middle of the shaft, beyond its tip, behind its tail.
      const start = l.xa + l.dir * 9;
      const startAnchor = l.dir > 0 ? 'start' : 'end';
      const candidates = [];
      if (l.span >= width + 12) {
        candidates.push([start, y, startAnchor], [start, y + 19, startAnchor]);
      }
      if (l.span >= width + 4) candidates.push([mid, y, 'middle'], [mid, y + 19, 'middle']);
      candidates.push([tip, y + 11, tipAnchor], [tail, y + 11, tailAnchor]);
      for (const dy of [-11, 30, -22, 41, -33]) {
        candidates.push([start, y + dy, startAnchor], [mid, y + dy, 'middle'],
          [tip, y + dy, tipAnchor]);
      }
      let chosen = null;
      for (const [cx, cy, anchor] of candidates) {
        const b = boxOf(cx, cy, anchor, width);
        if (inside(b) && !overlaps(b)) {
          chosen = [cx, cy, anchor, b];
          break;
        }
      }
      if (!chosen) {
        const b = boxOf(mid, y, 'middle', width);
        chosen = [mid, y, 'middle', b];
      }
      placed.push(chosen[3]);
      label(labelGroup, chosen[0], chosen[1], l.text, {'text-anchor': chosen[2], fill: l.color,
        'font-weight': l.weak ? 400 : 700, stroke: '#ffffff', 'stroke-width': 3, 'paint-order': 'stroke', 'stroke-linejoin': 'round'});
    }

    if (teleopDrawn.length + mixedDrawn.length === 0) {
      label(svg, (x0 + x1) / 2, (y0 + y1) / 2, 'no results with S > 0 yet',
        {'text-anchor': 'middle', fill: COLORS.muted, 'font-size': 13, 'data-role': 'empty-note'});
    }

    // Legend below the axis label.
    const lg = el('g', {'font-size': 11, fill: COLORS.text, 'data-role': 'legend'}, svg);
    let ly = y1 + 56;
    const lx = x0 - 40;
    const row = () => {
      const y = ly;
      ly += 17;
      return y;
    };
    {
      const y = row();
      marker(lg, 'circle', lx + 6, y - 4, 4.5, {fill: pointColor});
      label(lg, lx + 16, y, `${pointLabel} (seed mean \u00b1 std)`);
      el('line', {x1: lx + 200, x2: lx + 226, y1: y - 4, y2: y - 4, stroke: COLORS.fit,
        'stroke-width': 2.2, 'stroke-dasharray': '8 5'}, lg);
      label(lg, lx + 232, y, fitOk
        ? `fit S = ${fmt(fit.alpha)}\u00b7N^${fmt(fit.beta)}` +
          (finite(fit.rSquared) ? ` (R\u00b2 ${fit.rSquared.toFixed(2)})` : '')
        : 'fit undefined');
    }
    for (const nNt of scaling ? [] : nNts.length ? nNts : [null]) {
      const y = row();
      marker(lg, shapeOf(nNt), lx + 6, y - 4, 4.2, {fill: sourceColor});
      label(lg, lx + 16, y, nNt === null
        ? `teleop + ${model.sourceName || 'non-teleop'} pretraining (none yet)`
        : `teleop + ${fmt(nNt)} ${model.sourceName || 'non-teleop'} demos (pretrain)`);
    }
    if (!scaling) {
      const y = row();
      const items = [
        ['positive', `\u03b7 > 0: ${model.sourceName || 'it'} helps`],
        ['negative', `\u03b7 < 0: hurts`],
        ['undefined', '\u03b7 undefined'],
      ];
      label(lg, lx, y, 'arrow to N_eq:', {fill: COLORS.muted});
      let x = lx + 84;
      for (const [sign, text] of items) {
        const c = arrowColor(sign);
        el('line', {x1: x, x2: x + 16, y1: y - 4, y2: y - 4, stroke: c, 'stroke-width': 2,
          'stroke-dasharray': '5 2'}, lg);
        el('path', {d: `M${x + 22} ${y - 4}L${x + 15} ${y - 8.5}L${x + 15} ${y + 0.5}Z`, fill: c}, lg);
        label(lg, x + 26, y, text, {fill: c, 'font-weight': 600});
        x += 26 + text.length * 6.1 + 12;
      }
    }
    if (!scaling) {
      const y = row();
      label(lg, lx, y, '\u03b7 12? and a faded arrow: sign not established (95% interval ' +
        'allows both)', {fill: COLORS.muted});
    }
    if (zeroTeleop + zeroMixed > 0) {
      const y = row() + 1;
      const parts = [];
      if (zeroTeleop) parts.push(`${zeroTeleop} ${scaling ? (model.sourceName || 'source') : 'teleop'}`);
      if (zeroMixed) parts.push(`${zeroMixed} mixed`);
      label(lg, lx, y, `Not drawn (S = 0 has no place on a log axis): ${parts.join(', ')} ` +
        `point${zeroTeleop + zeroMixed === 1 ? '' : 's'}`, {fill: COLORS.negative,
        'data-role': 'zero-note', 'data-count': zeroTeleop + zeroMixed});
    }
    svg.dataset.teleopPoints = String(teleopDrawn.length);
    svg.dataset.mixedPoints = String(mixedDrawn.length);
    svg.dataset.leftOut = String(zeroTeleop + zeroMixed);
    return svg;
  }

  // Colour of a success rate in [0, 1]: viridis, sampled at 9 stops.
  const VIRIDIS = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962',
    '#addc30', '#fde725'];
  function viridis(t) {
    const v = Math.min(1, Math.max(0, finite(t) ? t : 0)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(v));
    const f = v - i;
    const a = VIRIDIS[i];
    const b = VIRIDIS[i + 1];
    const mix = (k) => Math.round(parseInt(a.substr(k, 2), 16) * (1 - f) +
      parseInt(b.substr(k, 2), 16) * f);
    return `rgb(${mix(1)}, ${mix(3)}, ${mix(5)})`;
  }

  // A horizontal colour bar for the score scale (an SVG).
  function scoreScale(width) {
    const w = width || 220;
    const svg = el('svg', {viewBox: `0 0 ${w} 30`, width: w, height: 30, role: 'img',
      'aria-label': 'score colour scale from S = 0 (dark purple) to S = 1 (yellow)'});
    const gid = `mixplot-grad-${++uid}`;
    const grad = el('linearGradient', {id: gid, x1: 0, x2: 1, y1: 0, y2: 0},
      el('defs', null, svg));
    VIRIDIS.forEach((c, i) => el('stop', {offset: i / (VIRIDIS.length - 1), 'stop-color': c}, grad));
    el('rect', {x: 8, y: 2, width: w - 16, height: 12, fill: `url(#${gid})`, stroke: '#9ca3af',
      'stroke-width': 0.5}, svg);
    for (const t of [0, 0.25, 0.5, 0.75, 1]) {
      const x = 8 + t * (w - 16);
      label(svg, x, 27, String(t), {'text-anchor': 'middle', 'font-size': 10, fill: COLORS.text});
    }
    return svg;
  }

  global.MixPlot = {render, viridis, scoreScale, fmt, fmtSigned, signOf, hasArrow, COLORS,
    SOURCE_COLORS};
})(window);
