// Live charts: items/s and p99 per "Service Operation [strategy]", polled from ./timeline.
// p99 is drawn for each latency kind measured: service time (solid), intended-time latency
// (rate mode, dashed) and record latency (dotted).
(function () {
  "use strict";
  var POLL_MS = 2000;
  var run = null;
  var since = -1;
  var series = {}; // name -> {t: [], items: [], p99: [], p99_intended: [], p99_record: []}
  var KINDS = [["p99", " (service time)", "solid"], ["p99_intended", " (intended)", "dash"], ["p99_record", " (record)", "dot"]];
  var status = document.getElementById("status");
  var config = { responsive: true, displaylogo: false };

  function layout(title, unit) {
    return {
      title: { text: title },
      xaxis: { title: { text: "seconds since the test started" } },
      yaxis: { title: { text: unit }, rangemode: "tozero" },
      legend: { orientation: "h" },
      margin: { t: 50, r: 20 },
    };
  }

  function traces(field, suffix, dash) {
    return Object.keys(series).sort().filter(function (name) {
      return series[name][field].some(function (v) { return v !== null && v !== undefined; });
    }).map(function (name) {
      var s = series[name];
      // New arrays on every update: Plotly.react compares data by reference.
      return { name: name + (suffix || ""), type: "scatter", mode: "lines+markers", x: s.t.slice(),
               y: s[field].slice(), line: { dash: dash || "solid" } };
    });
  }

  function latencyTraces() {
    return KINDS.reduce(function (all, kind) { return all.concat(traces(kind[0], kind[1], kind[2])); }, []);
  }

  function draw(data) {
    Plotly.react("items-chart", traces("items"),
      layout("items/s per strategy (over the last " + data.rate_window_seconds + " s)", "items/s"), config);
    Plotly.react("p99-chart", latencyTraces(),
      layout("p99 latency per " + data.interval_seconds + " s interval, by kind", "ms"), config);
  }

  function poll() {
    var url = "timeline?since=" + since + (run === null ? "" : "&run=" + run);
    fetch(url, { cache: "no-store" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (data.run_id !== run) {
          run = data.run_id;
          since = -1;
          series = {};
        }
        data.samples.forEach(function (point) {
          since = Math.max(since, point.t);
          Object.keys(point.rows).forEach(function (name) {
            var row = point.rows[name];
            var s = series[name] || (series[name] = { t: [], items: [], p99: [], p99_intended: [], p99_record: [] });
            s.t.push(point.t);
            s.items.push(row.items_per_s);
            KINDS.forEach(function (kind) { s[kind[0]].push(row[kind[0]] === undefined ? null : row[kind[0]]); });
          });
        });
        draw(data);
        var points = Object.keys(series).reduce(function (n, k) { return n + series[k].t.length; }, 0);
        status.textContent = (data.running ? "running" : "not running") + " \u2014 test #" + run + ", " +
          Object.keys(series).length + " series, " + points + " points, updated " + new Date().toLocaleTimeString();
      })
      .catch(function (error) { status.textContent = "no data: " + error; })
      .then(function () { setTimeout(poll, POLL_MS); });
  }

  poll();
})();
