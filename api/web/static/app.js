/* jamsos-ledger dashboard: progressive enhancement only. Every figure is also in a table; without this script the
   pages work and read the same, only without pictures and the upload progress bar. */
(function () {
  "use strict";
  var PALETTE = ["#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2e75b6", "#a50021", "#3b3838"];
  var lang = document.documentElement.lang === "en" ? "en-GB" : "id-ID";
  var numberFormat = new Intl.NumberFormat(lang, { maximumFractionDigits: 2 });

  function money(value) {
    return (value < 0 ? "-Rp" : "Rp") + numberFormat.format(Math.abs(value));
  }

  function draw(canvas) {
    var spec;
    try { spec = JSON.parse(canvas.getAttribute("data-chart")); } catch (e) { return; }
    if (!window.Chart || !spec) { return; }
    var format = spec.money ? money : function (v) { return numberFormat.format(v) + (spec.percent ? " %" : ""); };
    var datasets = spec.datasets.map(function (d, i) {
      var colour = d.colour || PALETTE[i % PALETTE.length];
      return { label: d.label, data: d.data, backgroundColor: colour, borderColor: colour, borderWidth: 2,
               fill: false, tension: 0, pointRadius: spec.type === "line" ? 3 : 0, stack: d.stack };
    });
    new window.Chart(canvas, {
      type: spec.type || "bar",
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        indexAxis: spec.horizontal ? "y" : "x",
        plugins: {
          legend: { position: "bottom" },
          tooltip: { callbacks: { label: function (c) { return c.dataset.label + ": " + format(c.parsed[spec.horizontal ? "x" : "y"]); } } }
        },
        scales: spec.type === "doughnut" ? {} : (function () {
          var value = { beginAtZero: true, stacked: !!spec.stacked, ticks: { callback: function (v) { return format(v); } } };
          var category = { stacked: !!spec.stacked };
          return spec.horizontal ? { x: value, y: category } : { x: category, y: value };
        })()
      }
    });
    canvas.setAttribute("data-drawn", "true");
  }

  function uploadWithProgress(form) {
    form.addEventListener("submit", function (event) {
      if (!window.XMLHttpRequest || !window.FormData) { return; }
      event.preventDefault();
      var bar = form.querySelector("progress");
      var status = form.querySelector("[data-upload-status]");
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (bar && e.lengthComputable) { bar.max = e.total; bar.value = e.loaded; }
        if (status && e.lengthComputable) { status.textContent = Math.round(100 * e.loaded / e.total) + " %"; }
      });
      xhr.addEventListener("load", function () {
        document.open(); document.write(xhr.responseText); document.close();
        if (xhr.responseURL) { window.history.replaceState(null, "", xhr.responseURL); }
      });
      if (bar) { bar.hidden = false; bar.value = 0; }
      xhr.send(new FormData(form));
    });
  }

  function start() {
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
    document.querySelectorAll("[data-print]").forEach(function (b) {
      b.addEventListener("click", function () { window.print(); });
    });
    document.querySelectorAll("form[data-upload-progress]").forEach(uploadWithProgress);
    document.querySelectorAll("input[type=range][data-output]").forEach(function (range) {
      var out = document.getElementById(range.getAttribute("data-output"));
      var show = function () {
        if (out) { out.textContent = numberFormat.format(Number(range.value)) + (range.getAttribute("data-unit") || ""); }
      };
      range.addEventListener("input", show); show();
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
}());
