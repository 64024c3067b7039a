// toolwire console: the little the pages need beyond HTML. Charts from the JSON each page embeds
// (<script type="application/json">), and copy buttons. No inline script anywhere (the CSP allows
// only this gateway's own files). Everything works without it, except drawing and copying.
(function () {
  "use strict";
  var PALETTE = ["#0b5cad", "#b35900", "#117a3b", "#8a2be2", "#a3161b", "#00707a", "#6b4f00"];

  function drawCharts(root) {
    if (typeof window.Chart === "undefined") return;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.drawn) return;
      var source = document.getElementById(canvas.dataset.source);
      if (!source) return;
      var data = JSON.parse(source.textContent);
      var stacked = canvas.dataset.chart === "calls";
      var lines = canvas.dataset.chart === "latency-time";
      data.datasets.forEach(function (set, i) {
        var colour = PALETTE[(lines ? Math.floor(i / 2) : i) % PALETTE.length];
        set.backgroundColor = colour;
        if (lines) {
          set.borderColor = colour;
          set.borderDash = set.kind === "p95" ? [6, 4] : [];
          set.spanGaps = false;
        }
      });
      new window.Chart(canvas, {
        type: lines ? "line" : "bar",
        data: data,
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          datasets: { bar: { maxBarThickness: 48 } },
          scales: { x: { stacked: stacked }, y: { stacked: stacked, beginAtZero: true } },
          plugins: { legend: { display: stacked || lines } },
        },
      });
      canvas.dataset.drawn = "1";
    });
  }

  function copy(event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    var text = document.getElementById(button.dataset.copy).textContent;
    var done = function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { button.textContent = "Select and copy"; });
    } else {
      button.textContent = "Select and copy";
    }
  }

  document.addEventListener("click", copy);
  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:afterSettle", function (e) { drawCharts(e.target); });
})();
