// The console's only script, served from the binary (/assets/console.js).
// Pages work without it; it adds what needs a pointer:
// - click a table header to sort its table by that column (numbers by the
//   cell's data-v when it has one), type in #filter to hide rows;
// - on a chart, a crosshair with the time and every series' value under
//   the pointer (#tip), and dragging across the plot zooms to that span
//   (the chart's data-zoom URL with from and to).
// Charts are drawn by the server; this reads their data- attributes only.
document.querySelectorAll('th').forEach(function (th) {
  th.onclick = function () {
    var table = th.closest('table');
    var column = Array.prototype.indexOf.call(th.parentNode.children, th);
    var order = (th.dataset.d = th.dataset.d === 'a' ? 'd' : 'a');
    table.querySelectorAll('tbody').forEach(function (body) {
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (x, y) {
        var p = x.cells[column].dataset.v || x.cells[column].textContent;
        var q = y.cells[column].dataset.v || y.cells[column].textContent;
        var n = parseFloat(p), m = parseFloat(q);
        var c = !isNaN(n) && !isNaN(m) ? n - m : p.localeCompare(q);
        return order === 'a' ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  };
});
var filter = document.getElementById('filter');
if (filter) {
  filter.oninput = function () {
    var text = filter.value.toLowerCase();
    document.querySelectorAll('tbody tr').forEach(function (r) {
      r.style.display = r.textContent.toLowerCase().indexOf(text) < 0 ? 'none' : '';
    });
  };
}

var SVG = 'http://www.w3.org/2000/svg';
function utc(t) {
  return new Date(t * 1000).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}
function element(name, attrs) {
  var e = document.createElementNS(SVG, name);
  Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
  return e;
}

document.querySelectorAll('svg.chart, svg.heatmap').forEach(function (svg) {
  var d = svg.dataset;
  var t0 = +d.t0, t1 = +d.t1, x0 = +d.x0, x1 = +d.x1, top = +d.top, bottom = +d.bottom;
  var tip = document.createElement('div');
  tip.className = 'tip';
  tip.id = 'tip';
  tip.hidden = true;
  document.body.appendChild(tip);
  var cross = element('line', { y1: top, y2: bottom, stroke: '#555', 'stroke-dasharray': '3 3', visibility: 'hidden' });
  var band = element('rect', { y: top, height: bottom - top, fill: '#1f77b4', 'fill-opacity': 0.15, visibility: 'hidden' });
  svg.appendChild(cross);
  svg.appendChild(band);
  // Pointer position in the chart's own units.
  function at(ev) {
    var p = svg.createSVGPoint();
    p.x = ev.clientX;
    p.y = ev.clientY;
    var q = p.matrixTransform(svg.getScreenCTM().inverse());
    return Math.min(Math.max(q.x, x0), x1);
  }
  function time(x) { return t0 + (x - x0) / (x1 - x0) * (t1 - t0); }
  var dragFrom = null;
  svg.addEventListener('mousedown', function (ev) { dragFrom = at(ev); ev.preventDefault(); });
  svg.addEventListener('mousemove', function (ev) {
    var x = at(ev), t = time(x);
    if (dragFrom !== null) {
      band.setAttribute('x', Math.min(dragFrom, x));
      band.setAttribute('width', Math.abs(x - dragFrom));
      band.setAttribute('visibility', 'visible');
    }
    // Each series' point nearest in time; cells for a heatmap.
    var lines = [];
    var nearest = null;
    svg.querySelectorAll('g.series').forEach(function (g) {
      var best = null;
      g.querySelectorAll('circle.pt').forEach(function (c) {
        if (best === null || Math.abs(c.dataset.t - t) < Math.abs(best.dataset.t - t)) best = c;
      });
      if (best) {
        lines.push(g.dataset.name + ': ' + best.dataset.v);
        nearest = +best.dataset.t;
      }
    });
    if (svg.classList.contains('heatmap')) {
      var cell = ev.target.closest && ev.target.closest('rect.cell');
      if (cell) lines.push(cell.textContent);
    }
    var shown = nearest === null ? t : nearest;
    var cx = x0 + (shown - t0) / (t1 - t0) * (x1 - x0);
    cross.setAttribute('x1', cx);
    cross.setAttribute('x2', cx);
    cross.setAttribute('visibility', 'visible');
    tip.textContent = '';
    [utc(Math.round(shown))].concat(lines).forEach(function (l) {
      var row = document.createElement('div');
      row.textContent = l;
      tip.appendChild(row);
    });
    tip.style.left = (ev.pageX + 14) + 'px';
    tip.style.top = (ev.pageY + 14) + 'px';
    tip.hidden = false;
  });
  svg.addEventListener('mouseleave', function () {
    cross.setAttribute('visibility', 'hidden');
    tip.hidden = true;
  });
  document.addEventListener('mouseup', function (ev) {
    if (dragFrom === null) return;
    var x = at(ev), from = Math.round(time(Math.min(dragFrom, x))), to = Math.round(time(Math.max(dragFrom, x)));
    dragFrom = null;
    band.setAttribute('visibility', 'hidden');
    if (d.zoom && to - from >= 60) {
      var sep = d.zoom.indexOf('?') < 0 ? '?' : (/[?&]$/.test(d.zoom) ? '' : '&');
      window.location.href = d.zoom + sep + 'from=' + from + '&to=' + to;
    }
  });
});
