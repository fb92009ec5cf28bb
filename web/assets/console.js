// The console's only script, served from the binary (/assets/console.js):
// click a table header to sort its table by that column (numbers by the
// cell's data-v when it has one), type in #filter to hide rows that do not
// match. Pages work without it.
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
