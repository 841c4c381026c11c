// Live staff board: cards arrive over Server-Sent Events and move between columns.
(function () {
  "use strict";
  var params = new URLSearchParams(window.location.search);
  var filters = { specialty: params.get("specialty") || "", expert: params.get("expert") || "" };
  var live = document.getElementById("live");

  function setLive(state, text) {
    live.className = "live " + state;
    live.querySelector(".live-text").textContent = text;
  }

  function matches(card) {
    return (!filters.specialty || card.dataset.specialty === filters.specialty) &&
      (!filters.expert || card.dataset.expert === filters.expert);
  }

  function recount() {
    var total = 0;
    document.querySelectorAll(".column").forEach(function (column) {
      var n = column.querySelectorAll(".card").length;
      column.querySelector(".count").textContent = n;
      total += n;
    });
    document.getElementById("total").textContent = total;
  }

  function place(update) {
    var old = document.getElementById("card-" + update.case_id);
    if (old) { old.remove(); }
    if (update.hidden) { recount(); return; }
    var holder = document.createElement("div");
    holder.innerHTML = update.html;
    var card = holder.firstElementChild;
    if (!matches(card)) { recount(); return; }
    var column = document.querySelector("#col-" + update.stage + " .cards");
    if (!column) { return; }
    column.insertBefore(card, column.firstChild);
    card.classList.add("flash");
    recount();
  }

  // Resume from the moment the page was rendered; reconnects send Last-Event-ID themselves.
  var since = document.querySelector(".board").dataset.since || "";
  var source = new EventSource("/board/events?since=" + encodeURIComponent(since));
  source.addEventListener("open", function () { setLive("on", "Live"); });
  source.addEventListener("error", function () { setLive("off", "Reconnecting"); });
  source.addEventListener("case", function (message) { place(JSON.parse(message.data)); });
  source.addEventListener("reset", function () { window.location.reload(); });
})();
