// The charts page (aws/charts): every live chart of aws_charts.js, a bigger copy of the AWS tab's.
(function () {
  "use strict";
  var POLL_MS = 2000;
  var status = document.getElementById("status");
  var timeline = new window.AwsCharts.Timeline("timeline");
  var ids = window.AwsCharts.mount(document.getElementById("charts"), "");

  function poll() {
    timeline.poll()
      .then(function () {
        window.AwsCharts.draw(timeline, ids, { height: 420 });
        status.textContent = (timeline.info.running ? "running" : "not running") + " \u2014 test #" + timeline.run + ", " +
          Object.keys(timeline.rows).length + " series, " + timeline.pointCount() + " points, updated " +
          new Date().toLocaleTimeString();
      })
      .catch(function (error) { status.textContent = "no data: " + error; })
      .then(function () { setTimeout(poll, POLL_MS); });
  }

  poll();
})();
