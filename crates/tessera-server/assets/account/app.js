// Tessera's account page. Tokens stay in HttpOnly cookies: this script never sees them.
// Unsafe requests carry the CSRF double-submit header read from the `csrftoken` cookie.
"use strict";

const $ = (selector) => document.querySelector(selector);
const CSRF_COOKIE = document.documentElement.dataset.csrfCookie || "csrftoken";
const CSRF_HEADER = document.documentElement.dataset.csrfHeader || "X-CSRFToken";
// What users log in with (`username_field`), and whether an account needs an address.
const LOGIN_FIELD = document.documentElement.dataset.loginField === "username" ? "username" : "email";
const EMAIL_REQUIRED = document.documentElement.dataset.emailRequired !== "false";
// Where the auth routes are: the server's `[routes] prefix` followed by `auth/`.
const AUTH = document.documentElement.dataset.authApi || "/api/auth/";
// Whether the server sends mail (`email_backend` is not "off"): else no reset, no
// verification, no address change.
const MAIL = document.documentElement.dataset.mail !== "off";
if (!MAIL) {
  $("#forgot-link").hidden = true;
  $("#email-card").hidden = true;
}

// Only the login field's inputs are shown and sent (disabled inputs are left out of forms).
document.querySelectorAll("[data-login]").forEach((label) => {
  const shown = label.dataset.login === LOGIN_FIELD;
  label.hidden = !shown;
  label.querySelectorAll("input").forEach((input) => { input.disabled = !shown; });
});
if (!EMAIL_REQUIRED) {
  $("#register-form").email.required = false;
  document.querySelectorAll("[data-email-optional]").forEach((el) => { el.hidden = false; });
}

function cookie(name) {
  const found = document.cookie.split("; ").find((part) => part.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

async function send(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers[CSRF_HEADER] = cookie(CSRF_COOKIE);
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
  return { status: response.status, data };
}

// Calls the API; when the access cookie has expired, refreshes once and retries.
async function api(method, path, body) {
  let reply = await send(method, path, body);
  if (reply.status === 401) {
    const refreshed = await send("POST", `${AUTH}cookie/refresh/`);
    if (refreshed.status !== 200) {
      showSignedOut("Your session has ended. Please sign in again.");
      throw new Error("signed out");
    }
    reply = await send(method, path, body);
  }
  return reply;
}

function notice(message, bad = false) {
  const box = $("#message");
  box.textContent = message;
  box.classList.toggle("bad", bad);
  box.hidden = !message;
}

function showErrors(form, data) {
  form.querySelectorAll(".error").forEach((el) => { el.textContent = ""; });
  if (!data) return;
  for (const [field, messages] of Object.entries(data)) {
    const text = Array.isArray(messages) ? messages.join(" ") : String(messages);
    const target = form.querySelector(`.error[data-for="${field}"]`) || form.querySelector('.error[data-for="form"]');
    if (target) target.textContent = (target.textContent ? target.textContent + " " : "") + text;
  }
}

function values(form) {
  return Object.fromEntries(new FormData(form).entries());
}

async function submitting(form, work) {
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try { await work(); } finally { button.disabled = false; }
}

function formatDate(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function describeAgent(agent) {
  if (!agent) return "Unknown device";
  const browser = /Edg\//.test(agent) ? "Edge" : /Chrome\//.test(agent) ? "Chrome" : /Firefox\//.test(agent) ? "Firefox"
    : /Safari\//.test(agent) ? "Safari" : /curl\//.test(agent) ? "curl" : "Browser";
  const system = /Windows/.test(agent) ? "Windows" : /Mac OS X/.test(agent) ? "macOS" : /Android/.test(agent) ? "Android"
    : /iPhone|iPad/.test(agent) ? "iOS" : /Linux/.test(agent) ? "Linux" : "";
  return system ? `${browser} on ${system}` : browser;
}

// Hides the account — and the API key shown once, so the next person at this browser
// does not find it on the page.
function showSignedOut(message) {
  $("#account").hidden = true;
  $("#nav").hidden = true;
  $("#auth").hidden = false;
  $("#api-key-new").textContent = "";
  $("#api-key-new-box").hidden = true;
  notice(message || "", Boolean(message));
}

function showUser(user) {
  $("#auth").hidden = true;
  $("#account").hidden = false;
  $("#nav").hidden = false;
  $("#nav-name").textContent = LOGIN_FIELD === "username" ? user.username : user.email;
  $("#joined").textContent = formatDate(user.date_joined);
  $("#avatar").textContent = (user.full_name || user.email || user.username || "").trim().charAt(0).toUpperCase();
  const form = $("#profile-form");
  form.first_name.value = user.first_name;
  form.last_name.value = user.last_name;
  form.email.value = user.email;
  if (LOGIN_FIELD === "username") form.username.value = user.username;
  showEmailStatus(user);
}

// The profile's address: verified or not, and the button that sends the mail again.
function showEmailStatus(user) {
  const status = $("#email-status");
  const resend = $("#resend-verification");
  if (!user.email) {
    status.textContent = "not set";
    status.classList.remove("unverified");
    resend.hidden = true;
    return;
  }
  status.textContent = user.email_verified ? "verified" : "not verified";
  status.classList.toggle("unverified", !user.email_verified);
  resend.hidden = Boolean(user.email_verified);
  resend.dataset.email = user.email;
}

async function loadSessions() {
  const { status, data } = await api("GET", `${AUTH}sessions/`);
  const list = $("#sessions");
  list.replaceChildren();
  if (status !== 200) return;
  for (const session of data) {
    const item = document.createElement("li");
    const info = document.createElement("div");
    const device = document.createElement("div");
    device.className = "device";
    device.textContent = describeAgent(session.user_agent);
    if (session.current) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = "This device";
      device.append(badge);
    }
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = `${session.ip || "unknown address"} · signed in ${formatDate(session.created_at)} · last active ${formatDate(session.last_used_at)}`;
    info.append(device, meta);
    item.append(info);
    if (!session.current) {
      const end = document.createElement("button");
      end.type = "button";
      end.className = "danger-outline";
      end.textContent = "End session";
      end.dataset.session = session.id;
      end.addEventListener("click", async () => {
        const reply = await api("DELETE", `${AUTH}sessions/${encodeURIComponent(session.id)}/`);
        if (reply.status === 204) { await loadSessions(); notice("Session ended."); }
      });
      item.append(end);
    }
    list.append(item);
  }
}

// The user's API keys, every page of them: name, prefix, dates, and a button to revoke
// each live one.
async function loadApiKeys() {
  const keys = [];
  for (let page = 1; ; page += 1) {
    const { status, data } = await api("GET", `${AUTH}api-keys/?page=${page}`);
    if (status !== 200) break;
    keys.push(...data.results);
    if (!data.next) break;
  }
  const list = $("#api-keys");
  list.replaceChildren();
  for (const key of keys) {
    const item = document.createElement("li");
    const info = document.createElement("div");
    const name = document.createElement("div");
    name.className = "device";
    name.textContent = `${key.name} `;
    const prefix = document.createElement("code");
    prefix.textContent = `${key.prefix}.…`;
    name.append(prefix);
    const state = key.revoked_at ? "revoked" : key.expires_at && new Date(key.expires_at) <= new Date() ? "expired" : "";
    if (state) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = state;
      name.append(badge);
    }
    const meta = document.createElement("div");
    meta.className = "meta";
    const used = key.last_used_at ? `last used ${formatDate(key.last_used_at)}` : "never used";
    const expires = key.expires_at ? ` · expires ${formatDate(key.expires_at)}` : "";
    meta.textContent = `created ${formatDate(key.created_at)} · ${used}${expires}`;
    info.append(name, meta);
    item.append(info);
    if (!key.revoked_at) {
      const revoke = document.createElement("button");
      revoke.type = "button";
      revoke.className = "danger-outline";
      revoke.textContent = "Revoke";
      revoke.dataset.prefix = key.prefix;
      revoke.addEventListener("click", async () => {
        const reply = await api("DELETE", `${AUTH}api-keys/${encodeURIComponent(key.prefix)}/`);
        if (reply.status === 204) { await loadApiKeys(); notice("API key revoked."); }
      });
      item.append(revoke);
    }
    list.append(item);
  }
}

$("#api-key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  submitting(form, async () => {
    const { status, data } = await api("POST", `${AUTH}api-keys/`, { name: $("#api-key-name").value });
    showErrors(form, status === 201 ? null : data);
    if (status !== 201) return;
    form.reset();
    $("#api-key-new").textContent = data.key;
    $("#api-key-new-box").hidden = false;
    await loadApiKeys();
  });
});

async function enter(user, message) {
  showUser(user);
  notice(message || "");
  $("#api-key-new").textContent = "";
  $("#api-key-new-box").hidden = true;
  await loadSessions();
  await loadApiKeys();
}

function selectTab(login) {
  $("#tab-login").setAttribute("aria-selected", String(login));
  $("#tab-register").setAttribute("aria-selected", String(!login));
  $("#login-form").hidden = !login;
  $("#register-form").hidden = login;
  $("#forgot-form").hidden = true;
  $("#reset-code-form").hidden = true;
}

// Shows one form of the sign-in card: the forgotten-password request or the code form.
function showAuthForm(id) {
  for (const other of ["#login-form", "#register-form", "#forgot-form", "#reset-code-form"]) {
    $(other).hidden = other !== id;
  }
}

$("#tab-login").addEventListener("click", () => selectTab(true));
$("#tab-register").addEventListener("click", () => selectTab(false));

$("#login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  submitting(form, async () => {
    const { status, data } = await send("POST", `${AUTH}cookie/login/`, values(form));
    if (status === 200) { form.reset(); showErrors(form); await enter(data.user, "Signed in."); }
    else showErrors(form, data && data.detail ? { form: data.detail } : data);
  });
});

$("#register-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  submitting(form, async () => {
    const { status, data } = await send("POST", `${AUTH}cookie/register/`, values(form));
    if (status === 201 && !data.user) {
      // `require_verified_email = "login"`: no session until the address is confirmed.
      form.reset();
      showErrors(form);
      selectTab(true);
      notice(`${data.detail} Confirm your address with the link in the mail, then sign in.`);
    } else if (status === 201) { form.reset(); showErrors(form); await enter(data.user, "Welcome! Your account is ready."); }
    else showErrors(form, data && data.detail ? { form: data.detail } : data);
  });
});

$("#profile-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  submitting(form, async () => {
    const { status, data } = await api("PATCH", `${AUTH}profile/`, values(form));
    if (status === 200) { showErrors(form); showUser(data); notice("Profile saved."); }
    else showErrors(form, data && data.detail ? { form: data.detail } : data);
  });
});

$("#password-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  submitting(form, async () => {
    const { status, data } = await api("POST", `${AUTH}password/change/`, values(form));
    if (status === 200) {
      form.reset();
      await send("POST", `${AUTH}cookie/logout/`);
      showSignedOut();
      notice(data.message);
    } else showErrors(form, data && data.detail ? { form: data.detail } : data);
  });
});

// ---- password reset, verification and address change by e-mail ----

const LINK_FAILED = "This link is invalid, expired or already used. Ask for a new mail.";
// The address a reset was asked for, which the code form sends with the code.
let resetEmail = "";

$("#forgot-link").addEventListener("click", () => {
  $("#forgot-email").value = $("#login-form").email.value || "";
  showAuthForm("#forgot-form");
  notice("");
});
document.querySelectorAll("[data-back-to-login]").forEach((button) => {
  button.addEventListener("click", () => { selectTab(true); notice(""); });
});

$("#forgot-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  submitting(form, async () => {
    const { status, data } = await send("POST", `${AUTH}password/reset/`, { email: form.email.value });
    if (status === 200) {
      resetEmail = form.email.value;
      showErrors(form);
      showAuthForm("#reset-code-form");
      notice(data.detail);
    } else showErrors(form, data && data.detail ? { form: data.detail } : data);
  });
});

// Field errors of a reset; a refused uid, token or code is one sentence.
function resetErrors(form, data, failed) {
  if (data && (data.uid || data.token)) showErrors(form, { form: failed });
  else showErrors(form, data && data.detail ? { form: data.detail } : data);
}

$("#reset-code-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  submitting(form, async () => {
    const body = {
      email: resetEmail,
      code: $("#reset-code").value.trim(),
      new_password1: $("#reset-password1").value,
      new_password2: $("#reset-password2").value,
    };
    const { status, data } = await send("POST", `${AUTH}password/reset/confirm/`, body);
    if (status === 200) {
      form.reset();
      showErrors(form);
      selectTab(true);
      notice(`${data.detail} You can sign in now.`);
    } else resetErrors(form, data, "The code is wrong or has expired. Ask for a new mail.");
  });
});

$("#resend-verification").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    const { status, data } = await send("POST", `${AUTH}verify-email/resend/`, { email: button.dataset.email });
    if (status === 200) notice(`A verification mail is on its way to ${button.dataset.email}.`);
    else notice((data && data.detail) || "The mail could not be sent. Try again later.", true);
  } finally { button.disabled = false; }
});

$("#email-change-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  submitting(form, async () => {
    const { status, data } = await api("POST", `${AUTH}email/change/`, values(form));
    if (status === 200) {
      const address = form.new_email.value;
      form.reset();
      showErrors(form);
      notice(`${data.detail} Open the link sent to ${address} to finish.`);
    } else showErrors(form, data && data.detail ? { form: data.detail } : data);
  });
});

// The pages of the links in mails: the path names the form, and only its button consumes
// the token (opening the link changes nothing).
const LINK_PAGES = [
  { pattern: /^\/account\/reset\/([^/]+)\/([^/]+)\/$/, section: "#link-reset" },
  { pattern: /^\/account\/verify-email\/([^/]+)\/$/, section: "#link-verify" },
  { pattern: /^\/account\/email-change\/([^/]+)\/$/, section: "#link-email-change" },
];

function segment(text) {
  try { return decodeURIComponent(text); } catch { return ""; }
}

function linkPage() {
  for (const page of LINK_PAGES) {
    const match = page.pattern.exec(location.pathname);
    if (match) return { section: page.section, parts: match.slice(1).map(segment) };
  }
  return null;
}

function linkDone(section, message) {
  $(section).hidden = true;
  $("#link-done").hidden = false;
  notice(message);
}

function showLinkPage(link) {
  $("#auth").hidden = true;
  $("#account").hidden = true;
  $("#nav").hidden = true;
  $(link.section).hidden = false;
  if (link.section === "#link-reset") {
    const [uid, token] = link.parts;
    $("#reset-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const form = event.currentTarget;
      submitting(form, async () => {
        const body = {
          uid,
          token,
          new_password1: $("#reset-password1").value,
          new_password2: $("#reset-password2").value,
        };
        const { status, data } = await send("POST", `${AUTH}password/reset/confirm/`, body);
        if (status === 200) { form.reset(); showErrors(form); linkDone(link.section, `${data.detail} You can sign in now.`); }
        else resetErrors(form, data, LINK_FAILED);
      });
    });
  } else {
    const [key] = link.parts;
    const verify = link.section === "#link-verify";
    const button = $(verify ? "#verify-button" : "#email-change-confirm-button");
    const error = $(verify ? "#verify-error" : "#email-change-confirm-error");
    const path = verify ? `${AUTH}verify-email/` : `${AUTH}email/change/confirm/`;
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const { status, data } = await send("POST", path, { key });
        if (status === 200) {
          error.textContent = "";
          linkDone(link.section, verify ? "Your address is confirmed." : "Your new address is confirmed and in use.");
        } else error.textContent = status === 404 ? LINK_FAILED : (data && data.detail) || LINK_FAILED;
      } finally { button.disabled = false; }
    });
  }
}

$("#logout").addEventListener("click", async () => {
  await send("POST", `${AUTH}cookie/logout/`);
  showSignedOut();
  notice("You are signed out.");
});

$("#logout-all").addEventListener("click", async () => {
  await api("POST", `${AUTH}logout/all/`);
  await send("POST", `${AUTH}cookie/logout/`);
  showSignedOut();
  notice("You are signed out everywhere.");
});

// On arrival: a link's form, or signed in if the access cookie works, or after a silent
// refresh. The new-password fields serve the link's form or the code form, whichever shows.
(async function start() {
  const link = linkPage();
  if (link) { showLinkPage(link); return; }
  const code = $("#reset-code-form");
  code.insertBefore($("#reset-passwords"), code.querySelector('.error[data-for="form"]'));
  let reply = await send("GET", `${AUTH}profile/`);
  if (reply.status === 401) {
    const refreshed = await send("POST", `${AUTH}cookie/refresh/`);
    if (refreshed.status === 200) reply = await send("GET", `${AUTH}profile/`);
  }
  if (reply.status === 200) await enter(reply.data);
  else showSignedOut();
})();
