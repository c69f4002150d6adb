// Adds links (live charts, report so far) above the table of Locust's "AWS" tab.
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
      ' &middot; <span style="color:#888">rates over the last ~10 s; cost estimated from AWS list prices (see the report)</span>';
    var color = window.getComputedStyle(table).color;
    Array.prototype.forEach.call(links.querySelectorAll("a"), function (a) { a.style.color = color; });
    container.parentNode.insertBefore(links, container);
  }

  var root = document.getElementById("root");
  if (root) new MutationObserver(place).observe(root, { childList: true, subtree: true });
  window.setInterval(place, 1000);
})();
