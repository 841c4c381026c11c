// Live staff board: cards arrive over Server-Sent Events and move between columns.
(function () {
  "use strict";
  var params = new URLSearchParams(window.location.search);
  var filters = { specialty: params.get("specialty") || "", expert: params.get("expert") || "" };
  var live = document.getElementById("live");
  var announcements = document.getElementById("announcements");
  var KEEP_ANNOUNCEMENTS = 5;

  function setLive(state, text) {
    live.className = "live " + state;
    live.querySelector(".live-text").textContent = text;
  }

  function matches(card) {
    return (!filters.specialty || card.dataset.specialty === filters.specialty) &&
      (!filters.expert || card.dataset.expert === filters.expert);
  }

  function count(selector) {
    return document.querySelectorAll(".column " + selector).length;
  }

  // The column counts and the summary, from the cards on the page.
  function recount() {
    document.querySelectorAll(".column").forEach(function (column) {
      column.querySelector(".count").textContent = column.querySelectorAll(".card").length;
    });
    document.getElementById("total").textContent = count(".card");
    document.getElementById("urgent-count").textContent = count('.card[data-urgent="yes"]');
    document.getElementById("attention-count").textContent = count('.card[data-attention="yes"]');
  }

  // Screen readers read each added line; the case reference only, never the child's initials.
  function announce(caseId, what) {
    var line = document.createElement("p");
    line.textContent = "Case " + caseId + " " + what + ".";
    announcements.appendChild(line);
    while (announcements.childElementCount > KEEP_ANNOUNCEMENTS) {
      announcements.removeChild(announcements.firstElementChild);
    }
  }

  // Where the case's card goes, or null if this page does not show it.
  function show(update) {
    if (update.hidden) { return null; }
    var holder = document.createElement("div");
    holder.innerHTML = update.html;
    var card = holder.firstElementChild;
    var column = document.getElementById("col-" + update.stage);
    if (!card || !column || !matches(card)) { return null; }
    var cards = column.querySelector(".cards");
    cards.insertBefore(card, cards.firstChild);
    card.classList.add("flash");
    return column.dataset.label;
  }

  function place(update) {
    var old = document.getElementById("card-" + update.case_id);
    var from = old ? old.dataset.stage : null;
    if (old) { old.remove(); }
    var label = show(update);
    recount();
    if (label === null) {
      if (old) { announce(update.case_id, update.hidden ? "left the board" : "no longer matches the filters"); }
    } else if (from === null) {
      announce(update.case_id, "added to " + label);
    } else {
      announce(update.case_id, (from === update.stage ? "updated in " : "moved to ") + label);
    }
  }

  // Resume from the moment the page was rendered; reconnects send Last-Event-ID themselves.
  var since = document.querySelector(".board").dataset.since || "";
  var source = new EventSource("/board/events?since=" + encodeURIComponent(since));
  source.addEventListener("open", function () { setLive("on", "Live"); });
  source.addEventListener("error", function () { setLive("off", "Reconnecting"); });
  source.addEventListener("case", function (message) { place(JSON.parse(message.data)); });
  source.addEventListener("reset", function () { window.location.reload(); });
})();
