// Configurações › Autorizar Microsoft 365: ask the app every two seconds whether the sign-in at
// Microsoft's page is done, and say so on the page (no reload, no outside scripts).
(function () {
  var box = document.getElementById("autorizacao-microsoft");
  var status = document.getElementById("situacao");
  if (!box || !status || status.dataset.state !== "waiting") { return; }
  function poll() {
    fetch(box.dataset.statusUrl, {credentials: "same-origin", cache: "no-store"})
      .then(function (response) { return response.json(); })
      .then(function (job) {
        if (job.state === "waiting") { setTimeout(poll, 2000); return; }
        status.dataset.state = job.state;
        status.className = job.state === "done" ? "flash flash-success" : "flash flash-error";
        status.textContent = job.message || "A autorização terminou.";
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 2000);
}());

// Configurações › SMTP: show only the fields of the chosen sign-in method (all of them stay in
// the page without scripts, each with its own hint).
(function () {
  var method = document.getElementById("auth_method");
  if (!method) { return; }
  var only = {password: ["password", "forget_password"], microsoft: ["oauth_tenant", "oauth_client_id"],
              google: ["oauth_client_id", "oauth_client_secret"]};
  var all = ["password", "forget_password", "oauth_tenant", "oauth_client_id", "oauth_client_secret"];
  function show() {
    var wanted = only[method.value] || [];
    all.forEach(function (id) {
      var input = document.getElementById(id);
      var box = input && input.closest(".field");
      if (box) { box.hidden = wanted.indexOf(id) < 0; }
    });
  }
  method.addEventListener("change", show);
  show();
}());
