// Progressive enhancement only: every form works without this file.
// - tells the server the browser's time zone once (dates are then shown in it);
// - fills an empty time-zone field;
// - disables a form's buttons once sent (with the server's idempotency key, one case per form);
// - uploads files one by one with a progress bar, retrying a dropped connection; large files
//   go in parts straight to object storage and resume where they stopped (after a dropped
//   connection, or a reload: choose the same file again);
// - autosaves the report editor.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
  if (zone && document.cookie.indexOf("sop_tz=") === -1) {
    fetch("/time-zone?tz=" + encodeURIComponent(zone), { credentials: "same-origin" });
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) { return values[key] || ""; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-time-zone]").forEach(function (input) {
      if (!input.value && zone) { input.value = zone; }
    });
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }

    document.querySelectorAll("form[data-once]").forEach(function (form) {
      form.addEventListener("submit", function () {
        setTimeout(function () {
          form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
        }, 0);
      });
    });

    document.querySelectorAll("form[data-upload]").forEach(setUpUploads);
    document.querySelectorAll("form[data-autosave]").forEach(setUpAutosave);
  });

  function setUpUploads(form) {
    var list = form.querySelector(".progress-list");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var kind = form.querySelector("[name=kind]").value;
      var files = [];
      form.querySelectorAll("input[type=file]").forEach(function (input) {
        for (var i = 0; i < input.files.length; i++) { files.push(input.files[i]); }
      });
      var next = 0;
      function one() {
        if (next >= files.length) {
          if (files.length) { setTimeout(function () { location.href = location.pathname + "?notice=uploaded#records"; }, 600); }
          return;
        }
        var file = files[next++];
        var row = document.createElement("li");
        var name = file.webkitRelativePath || file.name;
        var label = document.createElement("span");
        label.textContent = name;
        var bar = document.createElement("progress");
        bar.max = 100; bar.value = 0;
        bar.setAttribute("aria-label", name);
        row.appendChild(label); row.appendChild(bar);
        list.appendChild(row);
        var from = parseInt(form.dataset.resumableFrom || "0", 10);
        if (from && file.size >= from) {
          resumable(form, file, kind, bar, row, name, one);
        } else {
          send(file, kind, bar, row, name, 0, one);
        }
      }
      one();
    });

    function send(file, kind, bar, row, name, attempt, done) {
      var data = new FormData();
      data.append("kind", kind);
      data.append("file", file, file.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("action"));
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); } };
      xhr.onload = function () {
        if (xhr.status < 300) {
          bar.value = 100;
          row.querySelector("span").textContent = fill(form.dataset.done, { name: name });
          done();
          return;
        }
        var reason = "";
        try { reason = JSON.parse(xhr.responseText).error.message; } catch (e) { reason = String(xhr.status); }
        if (xhr.status >= 500 && attempt < 3) { return retry(); }
        row.className = "failed";
        row.querySelector("span").textContent = fill(form.dataset.failed, { name: name, reason: reason });
        done();
      };
      // A dropped home connection: wait and send the file again (the server keeps one copy).
      xhr.onerror = function () { if (attempt < 5) { retry(); } else { xhr.onload(); } };
      function retry() {
        row.querySelector("span").textContent = name + " — " + form.dataset.retry;
        setTimeout(function () { send(file, kind, bar, row, name, attempt + 1, done); }, 1000 * Math.pow(2, attempt));
      }
      xhr.send(data);
    }
  }

  // A large file: start (or find again) an upload at records, PUT each missing part to its
  // presigned URL, then have records assemble and check it. The page's own address proxies
  // the small JSON calls (the case link stays in its cookie); only the parts go elsewhere.
  function resumable(form, file, kind, bar, row, name, done) {
    var base = form.getAttribute("data-uploads");
    var remembered = "sop-upload:" + base + ":" + name + ":" + file.size + ":" + file.lastModified;
    var session = null, attempt = 0;

    function call(method, path, body) {
      return fetch(base + path, {
        method: method, credentials: "same-origin",
        headers: { "Accept": "application/json", "Content-Type": "application/json", "X-CSRF-Token": form.dataset.csrf },
        body: body === undefined ? undefined : JSON.stringify(body)
      }).then(function (response) {
        return response.json().then(function (json) {
          if (!response.ok) { var e = new Error((json.error && json.error.message) || String(response.status)); e.status = response.status; throw e; }
          return json;
        });
      });
    }
    function failed(error) {
      if ((!error.status || error.status >= 500) && attempt < 6) {
        row.querySelector("span").textContent = name + " — " + form.dataset.retry;
        setTimeout(go, 1000 * Math.pow(2, attempt++));
        return;
      }
      row.className = "failed";
      row.querySelector("span").textContent = fill(form.dataset.failed, { name: name, reason: error.message });
      try { localStorage.removeItem(remembered); } catch (e) { /* private mode */ }
      done();
    }
    function start() {
      if (session) { return Promise.resolve(session); }
      var known = null;
      try { known = localStorage.getItem(remembered); } catch (e) { known = null; }
      if (known) {
        return call("GET", "/" + known).then(function (found) {
          return found.state === "open" ? found : call("POST", "", fresh());
        }, function () { return call("POST", "", fresh()); });
      }
      return call("POST", "", fresh());
    }
    function fresh() {
      return { kind: kind, filename: file.name, size_bytes: file.size, content_type: file.type || "application/octet-stream" };
    }
    function put(url, blob, sentBefore) {
      return new Promise(function (resolve, reject) {
        var xhr = new XMLHttpRequest();
        xhr.open("PUT", url);
        xhr.upload.onprogress = function (e) { bar.value = Math.round(100 * (sentBefore + e.loaded) / file.size); };
        xhr.onload = function () {
          if (xhr.status < 300) { resolve(); return; }
          var e = new Error(String(xhr.status)); e.status = xhr.status >= 400 && xhr.status < 500 ? 503 : xhr.status; reject(e);
        };
        xhr.onerror = function () { reject(new Error("network")); };
        xhr.send(blob);
      });
    }
    // Each round asks which parts the store holds, sends up to 1,000 missing ones, and
    // starts again; when none is missing, records assembles the file.
    function go() {
      start().then(function (found) {
        session = found;
        try { localStorage.setItem(remembered, session.upload_id); } catch (e) { /* private mode */ }
        return call("POST", "/" + session.upload_id + "/parts", { numbers: [1] });
      }).then(function (known) {
        var have = {}, sent = 0, missing = [];
        known.uploaded.forEach(function (p) { have[p.number] = true; sent += p.size_bytes; });
        for (var n = 1; n <= session.part_count; n++) { if (!have[n]) { missing.push(n); } }
        bar.value = Math.round(100 * sent / file.size);
        if (!missing.length) {
          return call("POST", "/" + session.upload_id + "/complete").then(poll);
        }
        return call("POST", "/" + session.upload_id + "/parts", { numbers: missing.slice(0, 1000) }).then(function (parts) {
          var chain = Promise.resolve();
          parts.urls.forEach(function (p) {
            chain = chain.then(function () {
              var from = (p.number - 1) * session.part_size;
              var blob = file.slice(from, Math.min(file.size, from + session.part_size));
              return put(p.url, blob, sent).then(function () { sent += blob.size; attempt = 0; });
            });
          });
          return chain.then(go);
        });
      }).catch(failed);
    }
    function poll() {
      return call("GET", "/" + session.upload_id).then(function (found) {
        if (found.state === "done") {
          try { localStorage.removeItem(remembered); } catch (e) { /* private mode */ }
          bar.value = 100;
          row.querySelector("span").textContent = fill(form.dataset.done, { name: name });
          done();
          return;
        }
        if (found.state === "failed") {
          var e = new Error((found.error && found.error.message) || "failed"); e.status = 422; throw e;
        }
        return new Promise(function (resolve) { setTimeout(resolve, 1500); }).then(poll);
      });
    }
    go();
  }

  function setUpAutosave(form) {
    var state = form.querySelector(".save-state");
    var revision = form.querySelector("[name=revision]");
    var timer = null, busy = false, dirty = false;
    form.addEventListener("input", function () {
      dirty = true;
      clearTimeout(timer);
      timer = setTimeout(save, 2000);
    });
    function save() {
      if (busy || !dirty) { return; }
      busy = true; dirty = false;
      state.textContent = form.dataset.saving;
      var body = new URLSearchParams(new FormData(form));
      body.delete("then");
      fetch(form.getAttribute("action"), {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (response) {
        return response.json().then(function (json) { return { ok: response.ok, json: json }; });
      }).then(function (result) {
        busy = false;
        if (result.ok) {
          revision.value = result.json.revision;
          var at = new Date(result.json.saved_at);
          state.textContent = fill(form.dataset.saved, { when: at.toLocaleTimeString() });
        } else if (result.json.error && result.json.error.code === "stale_revision") {
          state.textContent = form.dataset.conflict;
        } else {
          state.textContent = (result.json.error && result.json.error.message) || "";
        }
        if (dirty) { timer = setTimeout(save, 2000); }
      }).catch(function () { busy = false; dirty = true; timer = setTimeout(save, 5000); });
    }
  }
})();
