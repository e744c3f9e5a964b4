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

  function chartData(id) {
    var canvas = document.getElementById(id + "-canvas");
    var data = window.CropWatch ? window.CropWatch.data(id) : null;
    return canvas && data && window.Chart ? { canvas: canvas, data: data } : null;
  }

  function bars(data, extra) {
    return data.datasets.map(function (d, i) {
      return Object.assign({ label: d.label, data: d.data, backgroundColor: PALETTE[i % PALETTE.length], borderRadius: 3 }, extra);
    });
  }

  // stacked bars by week or month, the legend under the chart
  function stackedOptions(data, yTicks) {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom" } },
      scales: {
        x: { stacked: true, title: { display: true, text: data.x_title } },
        y: { stacked: true, beginAtZero: true, ticks: yTicks, title: { display: true, text: data.y_title } }
      }
    };
  }

  function unionChart() {
    var c = chartData("union-chart");
    if (!c) { return; }
    new window.Chart(c.canvas, {
      type: "bar",
      data: { labels: c.data.labels, datasets: bars(c.data, {}) },
      options: stackedOptions(c.data, { precision: 0 })
    });
  }

  function forecastChart() {
    var c = chartData("forecast-chart");
    if (!c) { return; }
    var sets = bars(c.data, { type: "bar", stack: "expected" });
    var rec = c.data.recorded;
    sets.push({ type: "line", label: rec.label, data: rec.data, borderColor: "#111", backgroundColor: "#111", pointRadius: 3 });
    new window.Chart(c.canvas, { data: { labels: c.data.labels, datasets: sets }, options: stackedOptions(c.data, {}) });
  }

  function charts() { unionChart(); forecastChart(); }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", charts);
  } else {
    charts();
  }
})();
