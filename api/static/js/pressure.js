// Pest pressure charts: daily counts per class; on a plot's chart the alert thresholds are dashed lines.
(function () {
  "use strict";
  var data = CropWatch.data("pressure-data");
  if (!data || typeof Chart === "undefined") { return; }
  var palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
                 "#ff7f0e"];
  var levelColour = {watch: "#27507a", warning: "#b07800", danger: "#9b1c1c"};
  function lines(series) {
    return series.map(function (s, i) {
      return {label: s.label || s.name, cwName: s.name, data: s.data, borderColor: palette[i % palette.length],
              backgroundColor: palette[i % palette.length], tension: 0, pointRadius: 2};
    });
  }
  function chart(id, datasets) {
    var el = document.getElementById(id);
    if (!el) { return; }
    new Chart(el, {type: "line", data: {labels: data.labels, datasets: datasets},
      options: {responsive: true, maintainAspectRatio: false, animation: false,
                interaction: {mode: "index", intersect: false},
                scales: {y: {beginAtZero: true, ticks: {precision: 0}}}}});
  }
  chart("coop-chart", lines(data.coop));
  var plotSets = lines(data.plot);
  data.thresholds.forEach(function (t) {
    plotSets.push({label: (data.text[t.level] || t.level) + " · " + t.label + " ≥ " + t.value,
                   cwName: "threshold:" + t.name,
                   data: data.labels.map(function () { return t.value; }), borderColor: levelColour[t.level],
                   borderDash: [6, 4], pointRadius: 0, borderWidth: 1.5, fill: false});
  });
  chart("plot-chart", plotSets);
})();
