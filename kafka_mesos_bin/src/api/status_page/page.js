// Refreshes the status without reloading the page: the same view, rendered by the server.
(function () {
  var every = 5000;
  function refresh() {
    fetch("status.html" + window.location.search, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { document.getElementById("status").innerHTML = html; })
      .catch(function () {
        var u = document.querySelector(".updated");
        if (u) { u.textContent = "cannot reach the scheduler; retrying"; }
      })
      .then(function () { setTimeout(refresh, every); });
  }
  setTimeout(refresh, every);
})();
