// Adds links (live charts, report so far) above the table of Locust's "AWS" tab, and, when
// the test runs in rate mode, a field to change its target rate (POST ./aws/rate); below them,
// provisioned capacity (units/s consumed against provisioned) and the hottest keys of the run.
(function () {
  "use strict";
  var ID = "aws-tab-links";

  function awsTabShown() {
    if (new URLSearchParams(window.location.search).get("tab") === "aws") return true;
    var selected = document.querySelector('[role="tab"][aria-selected="true"]');
    return !!selected && selected.textContent.trim() === "AWS";
  }

  function place() {
    var links = document.getElementById(ID);
    if (!awsTabShown()) {
      if (links) links.remove();
      return;
    }
    var table = document.querySelector("#root table");
    if (!table) return;
    var container = table.closest(".MuiTableContainer-root") || table.parentElement;
    if (links && links.nextElementSibling === container) return;
    if (links) links.remove();
    links = document.createElement("div");
    links.id = ID;
    links.style.cssText = "margin: 8px 0 12px 0; font-size: 15px;";
    links.innerHTML =
      '<a id="aws-charts-link" href="./aws/charts" target="_blank">Live charts: items/s and p99 per strategy</a>' +
      ' &middot; <a href="./aws/report.html" target="_blank">Report of the run so far</a>' +
      ' &middot; <a href="./aws/report.json">(JSON)</a>' +
      ' &middot; <span style="color:#888">rates over the last ~10 s; cost estimated from AWS list prices (see the report)</span>' +
      '<form id="aws-rate-form" style="display:none; margin-top:6px">target rate <span id="aws-rate-now"></span> ' +
      '&rarr; <input id="aws-rate" name="rate" type="number" min="0" step="any" style="width:8em"> records/s ' +
      '<button type="submit">set</button> <span id="aws-rate-status" style="color:#888"></span></form>' +
      '<div id="aws-capacity" style="margin-top:6px"></div><div id="aws-hot-keys" style="margin-top:6px"></div>';
    var color = window.getComputedStyle(table).color;
    Array.prototype.forEach.call(links.querySelectorAll("a"), function (a) { a.style.color = color; });
    container.parentNode.insertBefore(links, container);
    links.querySelector("#aws-rate-form").addEventListener("submit", setRate);
    refreshRate();
  }

  function refreshRate() {
    var form = document.getElementById("aws-rate-form");
    if (!form) return;
    fetch("./aws/stats", { cache: "no-store" })
      .then(function (response) { return response.json(); })
      .then(function (table) {
        var rate = table.rate || {};
        form.style.display = rate.paced ? "block" : "none";
        document.getElementById("aws-rate-now").textContent = rate.paced ? rate.target + " records/s (" + rate.source + ")" : "";
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
  window.setInterval(refreshRate, 3000);
})();
