// Locust's "AWS" tab, around the table the React UI draws: links (charts page, report so far),
// the target rate (POST ./aws/rate, rate mode only), a pipeline's row, provisioned capacity and the hottest keys,
// with the run's live charts beside them and below (aws_charts.js; plotly.js is loaded the first
// time the tab is shown). The table is made compact so that the tab fits a 1,400 px window.
(function () {
  "use strict";
  var ID = "aws-tab-links";
  var POLL_MS = 2000;
  var STYLE =
    "#aws-tab-links { margin: 8px 0 12px 0; font-size: 15px; display: grid; gap: 8px 24px;" +
    "  grid-template-columns: repeat(2, minmax(0, 1fr)); }" +
    "#aws-tab-links .aws-chart-title { font-weight: 600; font-size: 14px; }" +
    "#aws-controls > * { margin-bottom: 6px; }" +
    // the table: Locust's cells are 16 px apart; the AWS table has 20 columns
    "body.aws-tab-shown #root .MuiTableCell-root { padding: 6px 7px; font-size: 13px; line-height: 1.3; }";
  var panel = null;  // built once, kept while the tab is hidden (its charts keep their data)
  var ids = {};
  var timeline = null;
  var polling = false;
  var loading = null;

  function awsTabShown() {
    if (new URLSearchParams(window.location.search).get("tab") === "aws") return true;
    var selected = document.querySelector('[role="tab"][aria-selected="true"]');
    return !!selected && selected.textContent.trim() === "AWS";
  }

  function load(src) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = function () { reject(new Error("could not load " + src)); };
      document.head.appendChild(script);
    });
  }

  function loadCharts() {  // once: plotly.js (from the plotly wheel, served by this UI) and the charts
    if (!loading) {
      loading = load("./aws/plotly.min.js").then(function () { return load("./aws/static/aws_charts.js"); });
    }
    return loading;
  }

  function build(color) {
    var element = document.createElement("div");
    element.id = ID;
    var style = document.createElement("style");
    style.textContent = STYLE;
    element.appendChild(style);
    var controls = document.createElement("div");
    controls.id = "aws-controls";
    controls.innerHTML =
      '<div><a id="aws-charts-link" href="./aws/charts" target="_blank">Live charts in a window of their own</a>' +
      ' &middot; <a href="./aws/report.html" target="_blank">Report of the run so far</a>' +
      ' &middot; <a href="./aws/report.json">(JSON)</a></div>' +
      '<div style="color:#888; font-size:13px">table: rates over the last ~10 s; cost estimated from AWS list prices (see the report)</div>' +
      '<form id="aws-rate-form" style="display:none">target rate <span id="aws-rate-now"></span> ' +
      '&rarr; <input id="aws-rate" name="rate" type="number" min="0" step="any" style="width:8em"> records/s ' +
      '<button type="submit">set</button> <span id="aws-rate-status" style="color:#888"></span></form>' +
      '<div id="aws-pipeline"></div><div id="aws-capacity"></div><div id="aws-hot-keys"></div>';
    Array.prototype.forEach.call(controls.querySelectorAll("a"), function (a) { a.style.color = color; });
    element.appendChild(controls);
    controls.querySelector("#aws-rate-form").addEventListener("submit", setRate);
    loadCharts().then(function () {
      var charts = window.AwsCharts;
      ids = charts.mount(element, "aws-");  // the rate chart first: beside the rate control
      timeline = new charts.Timeline("./aws/timeline");
      poll();
    }).catch(function (error) { controls.appendChild(text("div", "no charts: " + error)); });
    return element;
  }

  function place() {
    var shown = awsTabShown();
    document.body.classList.toggle("aws-tab-shown", shown);
    if (!shown) {
      if (panel) panel.remove();
      return;
    }
    var table = document.querySelector("#root table");
    if (!table) return;
    var container = table.closest(".MuiTableContainer-root") || table.parentElement;
    if (panel && panel.nextElementSibling === container) return;
    panel = panel || build(window.getComputedStyle(table).color);
    container.parentNode.insertBefore(panel, container);  // moved, not rebuilt: the charts stay
    refreshRate();
    redraw();
  }

  function redraw() {
    if (timeline && panel && panel.isConnected) {
      var color = window.getComputedStyle(panel).color;
      window.AwsCharts.draw(timeline, ids, { color: color, height: 280 });
    }
  }

  function poll() {
    if (polling) return;
    polling = true;
    var next = function () { polling = false; window.setTimeout(poll, POLL_MS); };
    if (!panel || !panel.isConnected) return next();  // the tab is hidden: nothing to draw
    timeline.poll().then(redraw).catch(function () {}).then(next);
  }

  function refreshRate() {
    var form = document.getElementById("aws-rate-form");
    if (!form) return;
    fetch("./aws/stats", { cache: "no-store" })
      .then(function (response) { return response.json(); })
      .then(function (table) {
        var rate = table.rate || {};
        form.style.display = rate.paced ? "block" : "none";
        var parts = Object.keys(rate.by_service || {}).map(function (name) { return name + " " + rate.by_service[name]; });
        document.getElementById("aws-rate-now").textContent = rate.paced ?
          rate.target + " records/s (" + rate.source + (parts.length ? "; " + parts.join(", ") : "") + ")" : "";
        showPipeline(table.pipeline);
        showCapacity(table.capacity || []);
        showHotKeys(table.hot_keys || []);
      })
      .catch(function () {});
  }

  function text(tag, content) {
    var element = document.createElement(tag);
    element.textContent = content;
    return element;
  }

  function showPipeline(row) {  // a pipeline's row (locustfiles/pipeline.py), all workers together
    var box = document.getElementById("aws-pipeline");
    if (!box) return;
    box.textContent = "";
    if (!row) return;
    var latency = row.record_latency_ms || {};
    var figures = ["p50", "p90", "p99", "p99.9", "max"].map(function (key) {
      return key + " " + (latency[key] === undefined ? "-" : latency[key]);
    });
    var givenUp = row.steps.map(function (step) { return step + " " + row.given_up_by_step[step]; });
    box.appendChild(text("div", "pipeline " + row.steps.join(" \u2192 ") + ": " + row.acked + " records through (" +
      row.records_per_s + "/s over the run); record latency ms " + figures.join(", ") +
      "; given up by step: " + givenUp.join(", ") + "; bottleneck: " + (row.bottleneck || "-")));
  }

  function showCapacity(lines) {
    var box = document.getElementById("aws-capacity");
    if (!box) return;
    box.textContent = "";
    lines.forEach(function (line) {
      var used = line.used === null ? "" : " (" + Math.round(line.used * 100) + " %)";
      box.appendChild(text("div", line.service + " " + line.unit + "/s consumed " + line.consumed_per_s +
        " of " + line.provisioned_per_s + " provisioned" + used));
    });
  }

  function showHotKeys(entries) {
    var box = document.getElementById("aws-hot-keys");
    if (!box) return;
    box.textContent = "";
    entries.forEach(function (entry) {
      ["writes", "throttles"].forEach(function (kind) {
        if (!entry[kind].length) return;
        var shown = entry[kind].map(function (pair) { return pair[0] + " " + pair[1]; }).join(", ");
        box.appendChild(text("div", "hottest keys of " + entry.service + " " + entry.resource + " by " + kind + ": " + shown));
      });
    });
  }

  function setRate(event) {
    event.preventDefault();
    var status = document.getElementById("aws-rate-status");
    var body = new URLSearchParams({ rate: document.getElementById("aws-rate").value });
    fetch("./aws/rate", { method: "POST", body: body })
      .then(function (response) { return response.json(); })
      .then(function (data) { status.textContent = data.error || "set to " + data.target + " records/s"; refreshRate(); })
      .catch(function (error) { status.textContent = String(error); });
  }

  var root = document.getElementById("root");
  if (root) new MutationObserver(place).observe(root, { childList: true, subtree: true });
  window.setInterval(place, 1000);
  window.setInterval(function () { if (panel && panel.isConnected) refreshRate(); }, 3000);
})();
