// r1v4 viewer: a little JavaScript where it helps. No inline handlers (strict CSP), and
// nothing from the server is ever inserted as HTML: text goes in through textContent.
(function () {
  "use strict";

  function typing(ev) {
    var t = ev.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }

  // ---- keyboard: j/k or arrows move between cases, u goes back to the list ---------------
  document.addEventListener("keydown", function (ev) {
    if (ev.defaultPrevented || ev.altKey || ev.ctrlKey || ev.metaKey || typing(ev)) return;
    if (lightbox && !lightbox.hidden) return;
    var target = null;
    if (ev.key === "j" || ev.key === "ArrowRight") target = document.getElementById("nav-next");
    else if (ev.key === "k" || ev.key === "ArrowLeft") target = document.getElementById("nav-prev");
    else if (ev.key === "u") target = document.getElementById("nav-list");
    if (target && target.href) {
      ev.preventDefault();
      window.location.href = target.href;
    }
  });

  // ---- list rows are clickable as a whole ------------------------------------------------
  document.addEventListener("click", function (ev) {
    var row = ev.target.closest ? ev.target.closest("tr[data-href]") : null;
    if (!row || ev.target.closest("a, button, input, select")) return;
    window.location.href = row.getAttribute("data-href");
  });

  // ---- lightbox: click an image to enlarge. Its zoom is true to the pixel: 100% is one
  // image pixel per screen (device) pixel, "1:1" goes there, wheel or +/- zoom around the
  // pointer, drag pans, ←/→ (or the side buttons) step through the page's images. The
  // caption is the name the model gave the image, its round, and its size.
  var lightbox = null, lbImg = null, lbCaption = null, lbZoom = null, lbPrev = null, lbNext = null;
  var scale = 1, dx = 0, dy = 0, drag = null, items = [], at = -1;

  function dpr() { return window.devicePixelRatio || 1; }
  function applyTransform() {
    lbImg.style.transform = "translate(" + dx + "px," + dy + "px) scale(" + scale + ")";
    var pct = scale * dpr() * 100;  // CSS px per image px, times device px per CSS px
    lbZoom.textContent = (pct >= 10 ? Math.round(pct) : pct.toFixed(1)) + "%";
    lbImg.classList.toggle("pixelated", pct > 100);
  }
  function fit() {
    var w = lbImg.naturalWidth || 1, h = lbImg.naturalHeight || 1;
    var vw = window.innerWidth, vh = window.innerHeight;
    scale = Math.min((vw * 0.92) / w, (vh * 0.84) / h);
    dx = (vw - w * scale) / 2; dy = (vh - h * scale) / 2;
    applyTransform();
  }
  function zoomAt(f, cx, cy) {
    var next = Math.min(64, Math.max(0.02, scale * f));
    if (cx === undefined) { cx = window.innerWidth / 2; cy = window.innerHeight / 2; }
    dx = cx - (cx - dx) * (next / scale); dy = cy - (cy - dy) * (next / scale);
    scale = next;
    applyTransform();
  }
  function oneToOne() {
    var cx = window.innerWidth / 2, cy = window.innerHeight / 2;
    zoomAt(1 / dpr() / scale, cx, cy);
  }
  function button(text, title, onClick) {
    var b = document.createElement("button");
    b.type = "button"; b.textContent = text; b.title = title;
    b.addEventListener("click", function (e) { e.stopPropagation(); onClick(); });
    return b;
  }
  function buildLightbox() {
    lightbox = document.createElement("div");
    lightbox.className = "lightbox";
    lightbox.hidden = true;
    var bar = document.createElement("div");
    bar.className = "lb-bar";
    lbZoom = document.createElement("span");
    lbZoom.className = "lb-zoom";
    bar.appendChild(lbZoom);
    bar.appendChild(button("−", "zoom out (-)", function () { zoomAt(0.8); }));
    bar.appendChild(button("+", "zoom in (+)", function () { zoomAt(1.25); }));
    bar.appendChild(button("1:1", "one image pixel per screen pixel (1)", oneToOne));
    bar.appendChild(button("fit", "fit the window (0)", fit));
    bar.appendChild(button("✕", "close (Esc)", closeLightbox));
    lbImg = document.createElement("img");
    lbImg.alt = "";
    lbImg.addEventListener("load", function () { fit(); caption(); });
    lbCaption = document.createElement("div");
    lbCaption.className = "lb-caption";
    lbPrev = button("‹", "previous image (←)", function () { step(-1); });
    lbPrev.className = "lb-nav prev";
    lbNext = button("›", "next image (→)", function () { step(1); });
    lbNext.className = "lb-nav next";
    [lbImg, bar, lbCaption, lbPrev, lbNext].forEach(function (el) { lightbox.appendChild(el); });
    lightbox.addEventListener("click", function (e) { if (e.target === lightbox) closeLightbox(); });
    lightbox.addEventListener("wheel", function (e) {
      e.preventDefault(); zoomAt(e.deltaY < 0 ? 1.15 : 0.87, e.clientX, e.clientY);
    }, { passive: false });
    lbImg.addEventListener("mousedown", function (e) { e.preventDefault(); drag = [e.clientX - dx, e.clientY - dy]; });
    document.addEventListener("mousemove", function (e) { if (drag) { dx = e.clientX - drag[0]; dy = e.clientY - drag[1]; applyTransform(); } });
    document.addEventListener("mouseup", function () { drag = null; });
    document.addEventListener("keydown", function (e) {
      if (lightbox.hidden) return;
      if (e.key === "Escape") closeLightbox();
      else if (e.key === "+" || e.key === "=") zoomAt(1.25);
      else if (e.key === "-") zoomAt(0.8);
      else if (e.key === "1") oneToOne();
      else if (e.key === "0") fit();
      else if (e.key === "ArrowLeft") step(-1);
      else if (e.key === "ArrowRight") step(1);
      else return;
      e.preventDefault();
    });
    document.body.appendChild(lightbox);
  }
  function caption() {
    var a = items[at];
    var text = a ? (a.getAttribute("data-caption") || "") : "";
    if (lbImg.naturalWidth) text += " · " + lbImg.naturalWidth + "×" + lbImg.naturalHeight + " px";
    if (items.length > 1) text += "  (" + (at + 1) + " / " + items.length + ")";
    lbCaption.textContent = text;
    lbPrev.disabled = at <= 0;
    lbNext.disabled = at >= items.length - 1;
  }
  function show(i) {
    at = i;
    lbImg.src = items[i].getAttribute("href");
    caption();
  }
  function step(d) { if (at + d >= 0 && at + d < items.length) show(at + d); }
  function openLightbox(a) {
    if (!lightbox) buildLightbox();
    items = Array.prototype.slice.call(document.querySelectorAll("a.zoomable"));
    lightbox.hidden = false;
    show(Math.max(0, items.indexOf(a)));
  }
  function closeLightbox() { lightbox.hidden = true; lbImg.removeAttribute("src"); }
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest ? ev.target.closest("a.zoomable") : null;
    if (!a) return;
    ev.preventDefault();
    openLightbox(a);
  });

  // ---- image captions: each thumbnail's size in pixels, once it has loaded ----------------
  function sizeCaption(img) {
    var fig = img.closest ? img.closest("figure.thumb") : null;
    var slot = fig ? fig.querySelector(".img-size") : null;
    if (slot && img.naturalWidth) slot.textContent = " · " + img.naturalWidth + "×" + img.naturalHeight;
  }
  function startSizes() {
    Array.prototype.forEach.call(document.querySelectorAll("figure.thumb img"), function (img) {
      if (img.complete) sizeCaption(img);
      else img.addEventListener("load", function () { sizeCaption(img); });
    });
  }

  // ---- regions: a box on an input image and the crop it became light up together --------
  function startRegions() {
    var boxes = Array.prototype.slice.call(document.querySelectorAll("svg.regions g.region"));
    boxes.forEach(function (g) {
      var target = document.getElementById(g.getAttribute("data-target"));
      g.addEventListener("mouseenter", function () { g.classList.add("active"); if (target) target.classList.add("linked"); });
      g.addEventListener("mouseleave", function () { g.classList.remove("active"); if (target) target.classList.remove("linked"); });
      g.addEventListener("click", function () { if (target) target.scrollIntoView({ block: "center" }); });
      if (!target) return;
      target.addEventListener("mouseenter", function () { g.classList.add("active"); target.classList.add("linked"); });
      target.addEventListener("mouseleave", function () { g.classList.remove("active"); target.classList.remove("linked"); });
    });
  }

  // ---- live: a run list polls for cases appended by a batch still running ----------------
  function cellNode(c) {
    var td = document.createElement("td");
    td.className = "col-" + c.key;
    function span(cls, text, title) {
      var s = document.createElement("span");
      if (cls) s.className = cls;
      s.textContent = text;
      if (title) s.title = title;
      return s;
    }
    if (c.value_type === "link") {
      var a = document.createElement("a");
      a.href = c.href; a.textContent = c.value; a.title = c.title || "";
      td.appendChild(a);
    } else if (c.value_type === "badge") {
      td.appendChild(span("badge " + c.cls, c.label, c.title));
    } else if (c.value_type === "tools") {
      (c.items || []).forEach(function (t) {
        td.appendChild(span("tool tool-" + t.name, t.name + (t.count > 1 ? " ×" + t.count : "")));
      });
      if (c.badge) {
        td.appendChild(document.createTextNode(" "));
        td.appendChild(span("badge " + c.badge.cls, c.badge.label, c.badge.title));
      }
    } else if (c.value_type === "flags") {
      (c.items || []).forEach(function (b) {
        td.appendChild(span("badge flag", b.label, b.title));
        td.appendChild(document.createTextNode(" "));
      });
      if (!(c.items || []).length && c.value) td.appendChild(span("muted", c.value));
    } else if (c.value_type === "truth") {
      if (c.mark) td.appendChild(span("mark " + c.mark.cls, c.mark.symbol, c.mark.title));
      td.appendChild(document.createTextNode(" " + (c.value || "")));
    } else {
      td.appendChild(span(c.value_type === "muted" ? "muted" : "", c.value || "", c.title));
    }
    return td;
  }
  function startLive(table) {
    var url = table.getAttribute("data-live-url");
    var every = parseInt(table.getAttribute("data-poll-ms"), 10) || 2000;
    var count = parseInt(table.getAttribute("data-count"), 10) || 0;
    var append = table.getAttribute("data-append") === "yes";
    var note = document.getElementById("live-note");
    var body = table.tBodies[0];
    function tick() {
      var sep = url.indexOf("?") < 0 ? "?" : "&";
      fetch(url + sep + "since=" + count, { headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          if (data.count > count) {
            if (append) {
              data.rows.forEach(function (row) {
                var tr = document.createElement("tr");
                tr.className = "row-" + row.cls + " live-new";
                tr.setAttribute("data-href", row.url);
                row.cells.forEach(function (c) { tr.appendChild(cellNode(c)); });
                body.appendChild(tr);
              });
            }
            if (note) {
              note.hidden = false;
              note.textContent = "+" + (data.count - parseInt(table.getAttribute("data-count"), 10)) +
                " new case(s) since this page loaded" + (append ? "" : " — reload to see them");
            }
            count = data.count;
            table.setAttribute("data-live-count", String(count));
          }
          if (data.inflight) renderInflight(data.inflight);
          Object.keys(data.totals || {}).forEach(function (k) {
            var el = document.querySelector('[data-total="' + k + '"]');
            if (el && typeof data.totals[k] !== "object") el.textContent = String(data.totals[k]);
          });
        })
        .catch(function () { /* server gone: keep the page as it is */ })
        .then(function () { window.setTimeout(tick, every); });
    }
    window.setTimeout(tick, every);
  }

  // ---- in flight: running cases on the run list (fed by the live poller) and their page ---
  function fmtAgo(sec) {
    var s = Math.max(0, Math.floor(sec));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }
  function renderInflight(rows) {
    var panel = document.getElementById("inflight");
    var body = document.getElementById("inflight-rows");
    if (!panel || !body) return;
    while (body.firstChild) body.removeChild(body.firstChild);
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      tr.className = r.stale ? "stale" : "running";
      tr.setAttribute("data-href", r.url);
      function td(cls) { var el = document.createElement("td"); el.className = cls; tr.appendChild(el); return el; }
      function span(cls, text, title) {
        var el = document.createElement("span");
        el.className = cls; el.textContent = text;
        if (title) el.title = title;
        return el;
      }
      var a = document.createElement("a");
      a.href = r.url; a.textContent = r.id; a.title = r.id;
      td("col-id").appendChild(a);
      td("col-question").textContent = r.question;
      td("col-turns").textContent = String(r.turns);
      var ev = td("col-event");
      ev.appendChild(span("ev ev-" + r.event.kind, r.event.label));
      ev.appendChild(document.createTextNode(" "));
      ev.appendChild(span("ev-text", r.event.text));
      var up = td("col-updated");
      up.textContent = r.updated;
      if (r.stale) {
        up.appendChild(document.createTextNode(" "));
        up.appendChild(span("badge bad", "stale", r.stale_reason));
      }
      body.appendChild(tr);
    });
    document.getElementById("inflight-count").textContent = String(rows.length);
    panel.hidden = rows.length === 0;
  }
  function startInflightPage(banner) {
    var url = banner.getAttribute("data-state-url");
    var every = parseInt(banner.getAttribute("data-poll-ms"), 10) || 0;
    var updatedAt = parseFloat(banner.getAttribute("data-updated-at"));
    var age = parseFloat(banner.getAttribute("data-age"));
    var t0 = Date.now(), done = false;
    var ageEl = document.getElementById("inflight-age");
    var follow = document.getElementById("inflight-follow");
    var KEY = "r1v4-inflight-follow";
    try { if (window.sessionStorage.getItem(KEY) === "no") follow.checked = false; } catch (e) { /* storage off */ }
    follow.addEventListener("change", function () {
      try { window.sessionStorage.setItem(KEY, follow.checked ? "yes" : "no"); } catch (e) { /* storage off */ }
    });
    var ticker = window.setInterval(function () {
      if (!done && !isNaN(age) && ageEl) ageEl.textContent = fmtAgo(age + (Date.now() - t0) / 1000);
    }, 1000);
    function show(id) {
      done = true;
      window.clearInterval(ticker);
      document.getElementById("inflight-status").hidden = true;
      document.getElementById(id).hidden = false;
      banner.classList.add("ended");
    }
    function tick() {
      fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return false;
          if (data.state === "finished") {
            document.getElementById("inflight-finished-link").href = data.finished_url;
            show("inflight-finished");
            banner.classList.add("finished");
            if (follow.checked) window.setTimeout(function () { window.location.replace(data.finished_url); }, 1200);
            return true;
          }
          if (data.state === "gone") { show("inflight-gone"); return true; }
          if (typeof data.updated_at === "number" && data.updated_at !== updatedAt && follow.checked) {
            window.location.reload();
            return true;
          }
          banner.classList.toggle("stale", data.state === "stale");
          document.getElementById("inflight-state").textContent = data.state === "stale" ? "Stale" : "Running";
          if (typeof data.age_s === "number") { age = data.age_s; t0 = Date.now(); }
          return false;
        })
        .catch(function () { return false; /* server gone: keep the page as it is */ })
        .then(function (stop) { if (!stop) window.setTimeout(tick, every); });
    }
    if (every > 0 && url && window.fetch) window.setTimeout(tick, every);
  }

  // ---- exported pages: a client-side filter over the one static table --------------------
  function startStaticFilter(input) {
    var rows = Array.prototype.slice.call(document.querySelectorAll("table.runs tbody tr"));
    input.addEventListener("input", function () {
      var q = input.value.toLowerCase();
      rows.forEach(function (tr) { tr.hidden = q && tr.textContent.toLowerCase().indexOf(q) < 0; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var table = document.querySelector("table[data-live-url]");
    if (table && window.fetch) startLive(table);
    var banner = document.getElementById("inflight-banner");
    if (banner) startInflightPage(banner);
    var sf = document.getElementById("static-filter");
    if (sf) startStaticFilter(sf);
    startSizes();
    startRegions();
  });
})();
