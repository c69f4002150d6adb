// The live charts, drawn with plotly.js from <base>timeline (aws_locust.live's samples), for the
// AWS tab and the charts page alike. Per "Service Operation [strategy]": items/s, p99 by latency
// kind (service time solid, intended-time dashed, record dotted), throttles and errors per
// second, late starts per second; for the run: target vs achieved records/s, and users.
// Legends sit above each plot and titles outside it: a legend never covers an axis title.
(function () {
  "use strict";
  var KINDS = [["p99", " (service time)", "solid"], ["p99_intended", " (intended)", "dash"], ["p99_record", " (record)", "dot"]];
  var ROW_FIELDS = ["items_per_s", "p99", "p99_intended", "p99_record", "throttled_per_s", "errors_per_s", "late_per_s"];
  var RUN_FIELDS = ["users", "target_rate", "achieved_rate"];
  var CHARTS = [  // key, title (the interval and window are added when known)
    ["rate", "records/s: target vs achieved, and users"],
    ["items", "items/s per strategy"],
    ["p99", "p99 latency per interval, by kind"],
    ["faults", "throttles and errors per second, per strategy"],
    ["late", "late starts per second, per strategy (rate mode)"],
  ];
  var LEGEND = { orientation: "h", x: 0, xanchor: "left", y: 1.02, yanchor: "bottom" };
  var CONFIG = { responsive: true, displaylogo: false };

  function Timeline(url) {
    this.url = url;
    this.reset(null);
  }

  Timeline.prototype.reset = function (run) {
    this.run = run;
    this.since = -1;
    this.rows = {};  // name -> {t: [], <field>: []}
    this.points = { t: [] };  // the run's own figures
    RUN_FIELDS.forEach(function (field) { this.points[field] = []; }, this);
    this.info = {};
  };

  Timeline.prototype.add = function (point) {
    this.since = Math.max(this.since, point.t);
    Object.keys(point.rows).forEach(function (name) {
      var row = point.rows[name];
      var series = this.rows[name];
      if (!series) {
        series = this.rows[name] = { t: [] };
        ROW_FIELDS.forEach(function (field) { series[field] = []; });
      }
      series.t.push(point.t);
      ROW_FIELDS.forEach(function (field) { series[field].push(row[field] === undefined ? null : row[field]); });
    }, this);
    this.points.t.push(point.t);
    RUN_FIELDS.forEach(function (field) {
      this.points[field].push(point[field] === undefined ? null : point[field]);
    }, this);
  };

  Timeline.prototype.poll = function () {
    var self = this;
    var url = this.url + "?since=" + this.since + (this.run === null ? "" : "&run=" + this.run);
    return fetch(url, { cache: "no-store" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (data.run_id !== self.run) self.reset(data.run_id);
        self.info = data;
        data.samples.forEach(self.add, self);
        return self;
      });
  };

  Timeline.prototype.pointCount = function () {
    var rows = this.rows;
    return Object.keys(rows).reduce(function (n, name) { return n + rows[name].t.length; }, 0);
  };

  function hasValues(values) {
    return values.some(function (v) { return v !== null && v !== undefined; });
  }

  // One trace per row that has this field; new arrays on every draw (Plotly.react compares by reference).
  function rowTraces(timeline, field, suffix, dash) {
    return Object.keys(timeline.rows).sort().filter(function (name) {
      return hasValues(timeline.rows[name][field]);
    }).map(function (name) {
      var series = timeline.rows[name];
      return { name: name + (suffix || ""), type: "scatter", mode: "lines+markers", x: series.t.slice(),
               y: series[field].slice(), line: { dash: dash || "solid" } };
    });
  }

  function runTrace(timeline, field, name, extra) {
    if (!hasValues(timeline.points[field])) return [];
    var trace = { name: name, type: "scatter", mode: "lines+markers", x: timeline.points.t.slice(),
                  y: timeline.points[field].slice() };
    return [Object.assign(trace, extra || {})];
  }

  var TRACES = {
    rate: function (timeline) {
      return runTrace(timeline, "target_rate", "target records/s", { line: { dash: "dash" } })
        .concat(runTrace(timeline, "achieved_rate", "achieved records/s (acknowledged)"))
        .concat(runTrace(timeline, "users", "users", { yaxis: "y2", line: { dash: "dot" } }));
    },
    items: function (timeline) { return rowTraces(timeline, "items_per_s"); },
    p99: function (timeline) {
      return KINDS.reduce(function (all, kind) { return all.concat(rowTraces(timeline, kind[0], kind[1], kind[2])); }, []);
    },
    faults: function (timeline) {
      return rowTraces(timeline, "throttled_per_s", " (throttled)").concat(rowTraces(timeline, "errors_per_s", " (errors)", "dash"));
    },
    late: function (timeline) { return rowTraces(timeline, "late_per_s"); },
  };
  var UNITS = { rate: "records/s", items: "items/s", p99: "ms", faults: "calls/s", late: "late starts/s" };

  function layout(key, color, height, timeline) {
    var axis = function (title) {
      return { title: { text: title }, rangemode: "tozero", automargin: true, color: color };
    };
    var result = {
      xaxis: axis("seconds since the test started"), yaxis: axis(UNITS[key]), legend: LEGEND, showlegend: true,
      height: height,
      margin: { t: 10, r: key === "rate" ? 10 : 20, b: 10, l: 10 }, font: { color: color },
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    };
    if (key === "rate") {  // users come whole: about four ticks, a whole number apart
      var most = Math.max.apply(null, [0].concat(timeline.points.users.filter(function (v) { return v !== null; })));
      result.yaxis2 = Object.assign(axis("users"), { overlaying: "y", side: "right", showgrid: false,
                                                     dtick: Math.max(1, Math.ceil(most / 4)) });
    }
    return result;
  }

  function titleOf(key, timeline) {
    var title = CHARTS.filter(function (chart) { return chart[0] === key; })[0][1];
    var info = timeline.info;
    if (key === "items" && info.rate_window_seconds) return title + " (over the last " + info.rate_window_seconds + " s)";
    if (key !== "items" && info.interval_seconds) return title + " (per " + info.interval_seconds + " s interval)";
    return title;
  }

  // Chart boxes in `container`, ids "<prefix><key>-chart"; `keys`: which charts (default: all).
  function mount(container, prefix, keys) {
    var ids = {};
    CHARTS.forEach(function (chart) {
      var key = chart[0];
      if (keys && keys.indexOf(key) < 0) return;
      var box = document.createElement("div");
      box.className = "aws-chart-box";
      var heading = document.createElement("div");
      heading.className = "aws-chart-title";
      heading.id = prefix + key + "-title";
      heading.textContent = chart[1];
      var plot = document.createElement("div");
      plot.className = "aws-chart";
      plot.id = prefix + key + "-chart";
      box.appendChild(heading);
      box.appendChild(plot);
      container.appendChild(box);
      ids[key] = plot.id;
    });
    return ids;
  }

  // Draws every mounted chart whose element is in the document.
  function draw(timeline, ids, options) {
    var color = (options && options.color) || "#222";
    var height = (options && options.height) || 300;
    Object.keys(ids).forEach(function (key) {
      var element = document.getElementById(ids[key]);
      if (!element || !window.Plotly) return;
      var heading = document.getElementById(ids[key].replace(/-chart$/, "-title"));
      if (heading) heading.textContent = titleOf(key, timeline);
      window.Plotly.react(element, TRACES[key](timeline), layout(key, color, height, timeline), CONFIG);
    });
  }

  window.AwsCharts = { Timeline: Timeline, mount: mount, draw: draw, CHARTS: CHARTS };
})();
