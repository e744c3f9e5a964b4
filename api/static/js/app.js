// CropWatch page helpers (no inline scripts: the CSP forbids them).
(function () {
  "use strict";
  function flash(html) {
    var box = document.getElementById("flash");
    if (box) { box.innerHTML = html; }
  }
  document.addEventListener("htmx:responseError", function (ev) {
    var xhr = ev.detail.xhr;
    if (xhr && xhr.responseText && xhr.responseText.indexOf("<") === 0) { flash(xhr.responseText); }
  });
  // <form data-confirm="..."> asks before submitting (promote, roll back, rotate token...)
  document.addEventListener("submit", function (ev) {
    var msg = ev.target.getAttribute && ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { ev.preventDefault(); ev.stopPropagation(); }
  }, true);
  window.CropWatch = {
    csrf: function () { return document.body.getAttribute("data-csrf"); },
    lang: function () { return document.body.getAttribute("data-lang"); },
    data: function (id) { var el = document.getElementById(id); return el ? JSON.parse(el.textContent) : null; },
    flash: flash
  };
})();
