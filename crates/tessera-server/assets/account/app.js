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
  const box = $("#notice");
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

function showSignedOut(message) {
  $("#account").hidden = true;
  $("#nav").hidden = true;
  $("#auth").hidden = false;
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

async function enter(user, message) {
  showUser(user);
  notice(message || "");
  await loadSessions();
}

function selectTab(login) {
  $("#tab-login").setAttribute("aria-selected", String(login));
  $("#tab-register").setAttribute("aria-selected", String(!login));
  $("#login-form").hidden = !login;
  $("#register-form").hidden = login;
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
    if (status === 201) { form.reset(); showErrors(form); await enter(data.user, "Welcome! Your account is ready."); }
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

// On arrival: signed in if the access cookie works, or after a silent refresh.
(async function start() {
  let reply = await send("GET", `${AUTH}profile/`);
  if (reply.status === 401) {
    const refreshed = await send("POST", `${AUTH}cookie/refresh/`);
    if (refreshed.status === 200) reply = await send("GET", `${AUTH}profile/`);
  }
  if (reply.status === 200) await enter(reply.data);
  else showSignedOut();
})();
