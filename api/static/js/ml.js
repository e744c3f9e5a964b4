// CropWatch ML pages: charts (vendored Chart.js) and the live run log. Data comes from <script type="application/json">
// blocks written by the server (the CSP forbids inline scripts).
(function () {
  "use strict";
  var STAGE = {production: "#1f6b33", shadow: "#27507a", candidate: "#c98a00", archived: "#8a948c"};
  var PALETTE = ["#27507a", "#c98a00", "#9b1c1c", "#6b3fa0", "#0f7c7c", "#b4532a", "#4d5f50", "#d0587e"];
  var charts = {};

  function pct(v) { return v === null || v === undefined ? "—" : Math.round(v * 100) + "%"; }

  function draw(canvas, config) {
    if (!canvas || !window.Chart) { return; }
    var key = canvas.id || canvas.getAttribute("data-source");
    if (charts[key]) { charts[key].destroy(); }
    config.options.animation = false;  // drawn at once: no half-grown bars in screenshots or print
    charts[key] = new window.Chart(canvas, config);
  }

  function agreement() {
    var d = window.CropWatch.data("ml-agreement-data");
    var canvas = document.getElementById("ml-agreement");
    if (!d || !canvas || !d.weeks.length) { return; }
    var sets = [{label: d.labels.overall, data: d.overall, borderColor: "#1f5f2c", backgroundColor: "#1f5f2c",
                 borderWidth: 3, pointRadius: 4, tension: 0.25, spanGaps: true}];
    var names = Object.keys(d.classes);
    if (names.length < 2) { names = []; }  // one class: its line is the overall line
    names.forEach(function (name, i) {
      var c = PALETTE[i % PALETTE.length];
      sets.push({label: name, data: d.classes[name], borderColor: c, backgroundColor: c, borderWidth: 1.5,
                 borderDash: [5, 4], pointRadius: 3, tension: 0.25, spanGaps: true, hidden: i >= 5});
    });
    draw(canvas, {
      type: "line",
      data: {labels: d.weeks, datasets: sets},
      options: {
        responsive: true, maintainAspectRatio: false, interaction: {mode: "index", intersect: false},
        scales: {y: {min: 0, max: 1, title: {display: true, text: d.labels.y},
                     ticks: {callback: function (v) { return Math.round(v * 100) + "%"; }}}},
        plugins: {
          legend: {position: "bottom", labels: {boxWidth: 14}},
          tooltip: {callbacks: {
            label: function (ctx) { return ctx.dataset.label + ": " + pct(ctx.parsed.y); },
            afterBody: function (items) {
              var i = items.length ? items[0].dataIndex : -1;
              return i >= 0 ? d.reviews[i] + " " + d.labels.reviews : "";
            }
          }}
        }
      }
    });
  }

  function perClassBars() {
    document.querySelectorAll("canvas.ml-bars").forEach(function (canvas) {
      var d = window.CropWatch.data(canvas.getAttribute("data-source"));
      if (!d) { return; }
      var counts = {};
      var sets = d.versions.map(function (v) {
        counts[v.stage] = (counts[v.stage] || 0) + 1;
        var base = STAGE[v.stage] || "#555";
        return {label: v.label, data: v.data, backgroundColor: base + (counts[v.stage] > 1 ? "99" : "dd"),
                borderColor: base, borderWidth: 1};
      });
      draw(canvas, {
        type: "bar",
        data: {labels: d.labels, datasets: sets},
        options: {
          responsive: true, maintainAspectRatio: false,
          scales: {y: {min: 0, max: 1, title: {display: true, text: d.axis}}},
          plugins: {legend: {position: "bottom", labels: {boxWidth: 14}},
                    tooltip: {callbacks: {label: function (ctx) {
                      return ctx.dataset.label + ": " + (ctx.parsed.y === null ? "—" : ctx.parsed.y.toFixed(3));
                    }}}}
        }
      });
    });
  }

  function runCurve() {
    var canvas = document.getElementById("ml-run-curve-chart");
    var d = window.CropWatch.data("ml-run-curve");
    if (!canvas || !d) { return; }
    draw(canvas, {
      type: "line",
      data: {labels: d.points.map(function (p) { return p.epoch; }),
             datasets: [{label: d.label, data: d.points.map(function (p) { return p.map50; }),
                         borderColor: "#1f5f2c", backgroundColor: "#1f5f2c33", fill: true, tension: 0.2,
                         pointRadius: 2}]},
      options: {responsive: true, maintainAspectRatio: false,
                scales: {y: {min: 0}}, plugins: {legend: {display: false}}}
    });
  }

  function scrollLog() {
    var log = document.getElementById("run-log");
    if (log) { log.scrollTop = log.scrollHeight; }
  }

  function init() {
    agreement();
    perClassBars();
    runCurve();
    scrollLog();
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
  // the run page's live part is swapped by HTMX polling: redraw its curve and follow the log
  document.addEventListener("htmx:afterSettle", function () { runCurve(); scrollLog(); });
})();
