// Admin pages: copy a freshly issued camera token; the union's pests-per-month chart (vendored Chart.js).
(function () {
  "use strict";
  document.addEventListener("click", function (ev) {
    var button = ev.target.closest ? ev.target.closest("[data-copy]") : null;
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) { return; }
    var text = source.textContent.trim();
    var done = function () {
      var copied = button.getAttribute("data-copied");
      if (copied) { button.textContent = copied; }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { selectText(source); });
    } else {
      selectText(source);
    }
  });

  function selectText(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  var PALETTE = ["#1f5f2c", "#27507a", "#b4650b", "#8e2f6b", "#4f7f1e", "#5a4fa3", "#9b1c1c", "#2c7f7a"];

  function unionChart() {
    var canvas = document.getElementById("union-chart-canvas");
    var data = window.CropWatch ? window.CropWatch.data("union-chart") : null;
    if (!canvas || !data || !window.Chart) { return; }
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: data.datasets.map(function (d, i) {
          return { label: d.label, data: d.data, backgroundColor: PALETTE[i % PALETTE.length], borderRadius: 3 };
        })
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom" } },
        scales: {
          x: { stacked: true, title: { display: true, text: data.x_title } },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: data.y_title } }
        }
      }
    });
  }

  function forecastChart() {
    var canvas = document.getElementById("forecast-chart-canvas");
    var data = window.CropWatch ? window.CropWatch.data("forecast-chart") : null;
    if (!canvas || !data || !window.Chart) { return; }
    var sets = data.datasets.map(function (d, i) {
      return { type: "bar", label: d.label, data: d.data, backgroundColor: PALETTE[i % PALETTE.length], borderRadius: 3, stack: "expected" };
    });
    sets.push({ type: "line", label: data.recorded.label, data: data.recorded.data, borderColor: "#111", backgroundColor: "#111", pointRadius: 3 });
    new window.Chart(canvas, {
      data: { labels: data.labels, datasets: sets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom" } },
        scales: {
          x: { stacked: true, title: { display: true, text: data.x_title } },
          y: { stacked: true, beginAtZero: true, title: { display: true, text: data.y_title } }
        }
      }
    });
  }

  function charts() { unionChart(); forecastChart(); }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", charts);
  } else {
    charts();
  }
})();
