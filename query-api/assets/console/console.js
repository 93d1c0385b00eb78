// Live refresh of the overview: the server pushes the re-rendered live
// part (escaped HTML of our own templates) every 2 s over server-sent
// events. Without this script the page is simply static.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource) {
    return;
  }
  var source = new EventSource(live.getAttribute("data-live"));
  source.addEventListener("overview", function (e) {
    live.innerHTML = e.data;
    document.body.classList.remove("offline");
  });
  source.addEventListener("error", function () {
    document.body.classList.add("offline");
  });
})();
