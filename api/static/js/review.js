// The annotator: boxes drawn in SVG over the photo (image pixel coordinates), reviewed with the keyboard or mouse.
// J/K select, C confirm, X reject, 1-9 relabel (or label a newly drawn box), 0 no pest, N next capture,
// arrows move the selected box (Shift+arrows resize), Enter saves the moved box; drag on the photo draws a box,
// drag inside the selected box moves it, drag its corner handle resizes it.
(function () {
  "use strict";
  var cfg = CropWatch.data("review-data");
  if (!cfg) { return; }
  var state = cfg.state, classes = cfg.classes, labels = cfg.labels || {};
  var svg = document.getElementById("boxes"), fig = document.getElementById("annotator");
  var list = document.getElementById("det-list"), counts = document.querySelector("#counts tbody");
  var hint = document.getElementById("pending-hint");
  var NS = "http://www.w3.org/2000/svg";
  var selected = null;   // index into state.detections
  var pending = null;    // a newly drawn box waiting for its class: [x1, y1, x2, y2]
  var edited = null;     // the selected box moved/resized but not saved yet
  var busy = false;
  var W = state.width || 1, H = state.height || 1;
  var lw = Math.max(2, W / 400), fs = Math.max(14, Math.round(W / 30));

  function label(name) { return labels[name] || name; }
  function el(tag, attrs, parent) {
    var e = document.createElementNS(NS, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function boxOf(i) { return (edited && edited.index === i) ? edited.box : state.detections[i].box; }

  function draw() {
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    state.detections.forEach(function (d, i) {
      var b = boxOf(i);
      var g = el("g", {"data-det": d.id}, svg);
      el("rect", {"class": "box " + d.state + " " + d.source + (i === selected ? " selected" : ""), x: b[0], y: b[1],
                  width: b[2] - b[0], height: b[3] - b[1], "stroke-width": lw}, g);
      var t = el("text", {"class": "lbl", x: b[0] + 4, y: b[1] > fs ? b[1] - 4 : b[3] + fs, "font-size": fs}, g);
      t.textContent = (i + 1) + ". " + label(d.class_name);
      if (i === selected) {
        el("rect", {"class": "handle", x: b[2] - fs / 2, y: b[3] - fs / 2, width: fs, height: fs,
                    fill: "#ff00d4"}, g);
      }
    });
    if (pending) {
      el("rect", {"class": "box pending", x: pending[0], y: pending[1], width: pending[2] - pending[0],
                  height: pending[3] - pending[1], "stroke-width": lw, fill: "none", stroke: "#37d6ff",
                  "stroke-dasharray": "8 4"}, svg);
    }
    hint.hidden = !pending;
    list.innerHTML = "";
    state.detections.forEach(function (d, i) {
      var li = document.createElement("li");
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", i === selected ? "true" : "false");
      li.dataset.det = d.id;
      li.dataset.state = d.state;
      li.textContent = (i + 1) + ". " + label(d.class_name) + " · " + Math.round(d.score * 100) + "% · " +
        (cfg.text[d.state] || d.state);
      li.addEventListener("click", function () { select(i); });
      list.appendChild(li);
    });
    counts.innerHTML = "";
    Object.keys(state.counts).forEach(function (name) {
      var tr = document.createElement("tr");
      tr.dataset.cls = name;
      var a = document.createElement("td"); a.textContent = label(name);
      var b = document.createElement("td"); b.textContent = state.counts[name]; b.className = "count";
      tr.appendChild(a); tr.appendChild(b); counts.appendChild(tr);
    });
  }

  function select(i) {
    if (!state.detections.length) { selected = null; draw(); return; }
    edited = null;
    selected = (i + state.detections.length) % state.detections.length;
    draw();
  }

  function act(body) {
    if (!cfg.can_review || busy) { return; }
    busy = true;
    fig.setAttribute("aria-busy", "true");
    fetch("/review/" + state.capture_id + "/act", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": CropWatch.csrf()},
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (data) { return {ok: r.ok, data: data}; });
    }).then(function (res) {
      busy = false;
      fig.removeAttribute("aria-busy");
      if (!res.ok) { CropWatch.flash('<p class="flash error" role="alert"></p>');
        document.querySelector("#flash p").textContent = res.data.error || "error"; return; }
      var keep = selected !== null && state.detections[selected] ? state.detections[selected].id : null;
      state = res.data;
      edited = null; pending = null;
      var idx = state.detections.findIndex(function (d) { return d.id === keep; });
      selected = idx >= 0 ? idx : (state.detections.length ? 0 : null);
      CropWatch.flash('<p class="flash ok" role="status">' + cfg.text.saved + "</p>");
      draw();
    }).catch(function () { busy = false; fig.removeAttribute("aria-busy"); });
  }

  function current() { return selected === null ? null : state.detections[selected]; }
  function round(b) { return b.map(function (v) { return Math.round(v * 10) / 10; }); }
  function clamp(b) {
    var x1 = Math.max(0, Math.min(b[0], b[2])), x2 = Math.min(W, Math.max(b[0], b[2]));
    var y1 = Math.max(0, Math.min(b[1], b[3])), y2 = Math.min(H, Math.max(b[1], b[3]));
    return [x1, y1, x2, y2];
  }

  // keyboard ------------------------------------------------------------------------------------------------
  document.addEventListener("keydown", function (ev) {
    var tag = (ev.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea" || ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var d = current(), k = ev.key;
    if (k === "j" || k === "J") { select(selected === null ? 0 : selected + 1); }
    else if (k === "k" || k === "K") { select(selected === null ? 0 : selected - 1); }
    else if ((k === "c" || k === "C") && d) { act({action: "confirm", detection_id: d.id}); }
    else if ((k === "x" || k === "X" || k === "Delete") && d) { act({action: "reject", detection_id: d.id}); }
    else if (k === "0") { act({action: "no_pest"}); }
    else if (k === "n" || k === "N") { window.location = document.getElementById("next-link").href; }
    else if (/^[1-9]$/.test(k)) {
      var name = classes[parseInt(k, 10) - 1];
      if (!name) { return; }
      if (pending) { act({action: "add_box", class_name: name, box: round(pending)}); }
      else if (d) { act({action: "relabel", detection_id: d.id, class_name: name}); }
    }
    else if (k === "Enter" && edited && d) { act({action: "adjust_box", detection_id: d.id, box: round(edited.box)}); }
    else if (k === "Escape") { pending = null; edited = null; draw(); }
    else if (k.indexOf("Arrow") === 0 && d) {
      var step = Math.max(1, Math.round(W / 200));
      var b = (edited ? edited.box : d.box).slice();
      var dx = k === "ArrowLeft" ? -step : k === "ArrowRight" ? step : 0;
      var dy = k === "ArrowUp" ? -step : k === "ArrowDown" ? step : 0;
      if (ev.shiftKey) { b[2] += dx; b[3] += dy; } else { b[0] += dx; b[2] += dx; b[1] += dy; b[3] += dy; }
      edited = {index: selected, box: clamp(b)};
      draw();
    } else { return; }
    ev.preventDefault();
  });

  // mouse ---------------------------------------------------------------------------------------------------
  function toImage(ev) {
    var r = svg.getBoundingClientRect();
    return [Math.max(0, Math.min(W, (ev.clientX - r.left) * W / r.width)),
            Math.max(0, Math.min(H, (ev.clientY - r.top) * H / r.height))];
  }
  function inside(p, b) { return p[0] >= b[0] && p[0] <= b[2] && p[1] >= b[1] && p[1] <= b[3]; }
  var drag = null;
  svg.style.pointerEvents = "all";
  svg.addEventListener("pointerdown", function (ev) {
    if (!cfg.can_review) { return; }
    fig.focus({preventScroll: true});
    var p = toImage(ev), d = current();
    if (d) {
      var b = boxOf(selected);
      if (Math.abs(p[0] - b[2]) < fs && Math.abs(p[1] - b[3]) < fs) { drag = {mode: "resize", start: p, box: b.slice()}; }
      else if (inside(p, b)) { drag = {mode: "move", start: p, box: b.slice()}; }
    }
    if (!drag) {
      var hit = -1;
      state.detections.forEach(function (det, i) { if (hit < 0 && i !== selected && inside(p, det.box) && det.state !== "rejected") { hit = i; } });
      if (hit >= 0 && ev.detail >= 1 && !ev.shiftKey) { select(hit); return; }
      drag = {mode: "draw", start: p};
      pending = [p[0], p[1], p[0], p[1]];
    }
    svg.setPointerCapture(ev.pointerId);
    ev.preventDefault();
  });
  svg.addEventListener("pointermove", function (ev) {
    if (!drag) { return; }
    var p = toImage(ev), dx = p[0] - drag.start[0], dy = p[1] - drag.start[1], b;
    if (drag.mode === "draw") { pending = clamp([drag.start[0], drag.start[1], p[0], p[1]]); }
    else if (drag.mode === "move") { b = drag.box; edited = {index: selected, box: clamp([b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy])}; }
    else { b = drag.box; edited = {index: selected, box: clamp([b[0], b[1], b[2] + dx, b[3] + dy])}; }
    draw();
  });
  svg.addEventListener("pointerup", function () {
    if (!drag) { return; }
    var mode = drag.mode;
    drag = null;
    if (mode === "draw") {
      if (!pending || pending[2] - pending[0] < 4 || pending[3] - pending[1] < 4) { pending = null; }
      draw();
    } else if (edited && current()) {
      act({action: "adjust_box", detection_id: current().id, box: round(edited.box)});
    }
  });

  // buttons -------------------------------------------------------------------------------------------------
  document.querySelectorAll("[data-act]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var a = btn.getAttribute("data-act"), d = current();
      if (a === "no_pest") { act({action: "no_pest"}); }
      else if (d) { act({action: a, detection_id: d.id}); }
    });
  });
  document.querySelectorAll("#classes li").forEach(function (li, i) {
    li.addEventListener("click", function () {
      var name = classes[i], d = current();
      if (pending) { act({action: "add_box", class_name: name, box: round(pending)}); }
      else if (d) { act({action: "relabel", detection_id: d.id, class_name: name}); }
    });
  });

  selected = state.detections.length ? 0 : null;
  draw();
  fig.focus({preventScroll: true});
})();
