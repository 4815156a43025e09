// Continuum web observer: the little the pages do in the browser.
// - A live run page (#live with data-ended="false") re-reads its server-rendered
//   fragment every second and swaps it in; when the run has ended it reloads once
//   (the actions change) and stops.
// - Forms with data-confirm ask before submitting.
// No inline script anywhere: the Content-Security-Policy allows only this file.
(function () {
  "use strict";

  var POLL_MS = 1000;

  function openDetails(root) {
    var open = {};
    root.querySelectorAll("details[id]").forEach(function (d) {
      open[d.id] = d.open;
    });
    return open;
  }

  function follow() {
    var live = document.getElementById("live");
    if (!live || live.dataset.ended === "true") {
      return;
    }
    var last = live.innerHTML;

    function tick() {
      fetch(live.dataset.src, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.text();
        })
        .then(function (html) {
          var box = document.createElement("div");
          box.innerHTML = html; // rendered and escaped by the server
          var fresh = box.querySelector("#live");
          if (!fresh) {
            throw new Error("no #live in the fragment");
          }
          if (fresh.dataset.ended === "true") {
            window.location.reload();
            return;
          }
          if (fresh.innerHTML !== last) {
            var open = openDetails(live);
            fresh.querySelectorAll("details[id]").forEach(function (d) {
              if (d.id in open) {
                d.open = open[d.id];
              }
            });
            live.replaceWith(fresh);
            live = fresh;
            last = fresh.innerHTML;
          }
          window.setTimeout(tick, POLL_MS);
        })
        .catch(function () {
          window.setTimeout(tick, POLL_MS * 5); // the server is away: try again, slower
        });
    }

    window.setTimeout(tick, POLL_MS);
  }

  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) {
          event.preventDefault();
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    follow();
    confirmations();
  });
})();
