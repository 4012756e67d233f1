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
// Whether this browser can use passkeys, and whether the server lets one sign in alone
// (`passkey_login`).
const PASSKEYS = typeof window.PublicKeyCredential === "function" && Boolean(navigator.credentials);
const PASSKEY_LOGIN = PASSKEYS && document.documentElement.dataset.passkeyLogin === "true";

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
  hideTotpSecrets();
  madePasskey = null;
  selectTab(true);
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
  // The sign-in card starts over at its first form the next time it shows.
  selectTab(true);
  notice(message || "");
  $("#api-key-new").textContent = "";
  $("#api-key-new-box").hidden = true;
  await loadSessions();
  await loadApiKeys();
  await loadMfa();
  await loadPasskeys();
  await loadIdentities();
  await finishSocialLink();
}

// The forms of the sign-in card, one shown at a time; the providers' buttons go with the
// sign-in form.
const AUTH_FORMS = ["#login-form", "#register-form", "#forgot-form", "#reset-code-form", "#mfa-form", "#mfa-enrol-form"];
let socialButtons = false;

function selectTab(login) {
  $("#tab-login").setAttribute("aria-selected", String(login));
  $("#tab-register").setAttribute("aria-selected", String(!login));
  showAuthForm(login ? "#login-form" : "#register-form");
}

// Shows one form of the sign-in card: the forgotten-password request or the code form.
function showAuthForm(id) {
  for (const other of AUTH_FORMS) $(other).hidden = other !== id;
  $("#social").hidden = !socialButtons || id !== "#login-form";
  $("#passkey-signin").hidden = !PASSKEY_LOGIN || id !== "#login-form";
  $("#passkey-login-error").textContent = "";
  if (id !== "#mfa-form" && id !== "#mfa-enrol-form") pending = null;
  if (id !== "#mfa-enrol-form") {
    $("#mfa-enrol-qr").removeAttribute("src");
    $("#mfa-enrol-secret").textContent = "";
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
    else if (status === 401 && data && data.code === "mfa_required") {
      form.reset();
      showErrors(form);
      showMfaStep(data.mfa_token, data.methods);
    } else if (status === 401 && data && data.code === "mfa_setup_required") {
      form.reset();
      showErrors(form);
      await showMfaEnrol(data.mfa_token);
    } else showErrors(form, data && data.detail ? { form: data.detail } : data);
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

// ---- second factors: TOTP and recovery codes ----

// The second step a sign-in owes: its `mfa_token`, and the methods the user has (null when
// unknown, as after a provider's callback).
let pending = null;
let recoveryMode = false;

// A server-drawn QR code, shown as an image: no markup of it enters the page.
function showQr(img, svg) {
  img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

function setRecoveryMode(on) {
  recoveryMode = on;
  const input = $("#mfa-code");
  input.value = "";
  input.inputMode = on ? "text" : "numeric";
  input.autocomplete = on ? "off" : "one-time-code";
  $("#mfa-code-label").textContent = on ? "Recovery code" : "Authentication code";
  $("#mfa-hint").textContent = on ? "Enter one of the recovery codes you saved. Each works once."
    : "Enter the 6-digit code your authenticator app shows.";
  $("#mfa-use-recovery").textContent = on ? "Use an authentication code" : "Use a recovery code";
}

function showMfaStep(token, methods) {
  $("#auth").hidden = false;
  notice("");
  showAuthForm("#mfa-form");
  pending = { token, methods: Array.isArray(methods) ? methods : null };
  const has = (method) => !pending.methods || pending.methods.includes(method);
  const codes = has("totp") || has("recovery_code");
  setRecoveryMode(!has("totp") && has("recovery_code"));
  $("#mfa-code-box").hidden = !codes;
  $("#mfa-use-recovery").hidden = !(has("totp") && has("recovery_code"));
  $("#mfa-use-passkey").hidden = !(PASSKEYS && has("passkey"));
  if (!codes) $("#mfa-hint").textContent = "Confirm it is you with your passkey.";
  showErrors($("#mfa-form"));
  if (codes) $("#mfa-code").focus();
}

// A second step that can no longer finish (expired, used up): back to the sign-in form.
function mfaExpired(data) {
  selectTab(true);
  showErrors($("#login-form"), { form: (data && data.detail) || "This sign-in has expired. Sign in again." });
}

async function mfaVerified(status, data, form) {
  if (status === 200) {
    form.reset();
    showErrors(form);
    await enter(data.user, "Signed in.");
  } else if (status === 401) mfaExpired(data);
  else showErrors(form, data && data.detail ? { form: data.detail } : data);
}

$("#mfa-use-recovery").addEventListener("click", () => {
  setRecoveryMode(!recoveryMode);
  showErrors($("#mfa-form"));
  $("#mfa-code").focus();
});

$("#mfa-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  if (!pending) return;
  submitting(form, async () => {
    const body = { mfa_token: pending.token, code: $("#mfa-code").value.trim() };
    const { status, data } = await send("POST", `${AUTH}mfa/verify/`, body);
    await mfaVerified(status, data, form);
  });
});

$("#mfa-use-passkey").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  const form = $("#mfa-form");
  if (!pending) return;
  button.disabled = true;
  try {
    const begun = await send("POST", `${AUTH}mfa/passkey/begin/`, { mfa_token: pending.token });
    if (begun.status === 401) { mfaExpired(begun.data); return; }
    if (begun.status !== 200) { showErrors(form, { form: (begun.data && begun.data.detail) || "Passkeys are not available." }); return; }
    const credential = await askPasskey("get", begun.data.publicKey, form);
    if (!credential) return;
    const body = { mfa_token: pending.token, passkey: { challenge_id: begun.data.challenge_id, credential } };
    const { status, data } = await send("POST", `${AUTH}mfa/verify/`, body);
    await mfaVerified(status, data, form);
  } finally { button.disabled = false; }
});

// Staff who must use a second factor set TOTP up before their sign-in completes.
async function showMfaEnrol(token) {
  const form = $("#mfa-enrol-form");
  const { status, data } = await send("POST", `${AUTH}mfa/totp/setup/`, { mfa_token: token });
  if (status !== 200) { mfaExpired(data); return; }
  showAuthForm("#mfa-enrol-form");
  pending = { token, methods: null };
  showQr($("#mfa-enrol-qr"), data.qr_svg);
  $("#mfa-enrol-secret").textContent = data.secret;
  showErrors(form);
  $("#mfa-enrol-code").focus();
}

$("#mfa-enrol-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  if (!pending) return;
  submitting(form, async () => {
    const body = { mfa_token: pending.token, code: $("#mfa-enrol-code").value.trim() };
    const { status, data } = await send("POST", `${AUTH}mfa/totp/confirm/`, body);
    if (status === 200) {
      form.reset();
      showErrors(form);
      await enter(data.user, "Two-factor authentication is on, and you are signed in.");
      showRecoveryCodes(data.recovery_codes);
    } else if (status === 401) mfaExpired(data);
    else showErrors(form, data && data.detail ? { form: data.detail } : data);
  });
});

// The account's TOTP: off (a button to set it up), being set up (QR, key, code), or on
// (new recovery codes, turning it off).
async function loadMfa() {
  const { status, data } = await api("GET", `${AUTH}mfa/`);
  if (status !== 200) { $("#mfa-card").hidden = true; return; }
  $("#mfa-card").hidden = false;
  const badge = $("#mfa-status");
  badge.textContent = data.totp ? "on" : "off";
  badge.classList.toggle("off", !data.totp);
  $("#mfa-on").hidden = !data.totp;
  $("#mfa-off").hidden = data.totp || !$("#mfa-setup").hidden;
  if (data.totp) {
    $("#mfa-setup").hidden = true;
    const left = data.recovery_codes_left;
    $("#mfa-codes-left").textContent = `${left} recovery code${left === 1 ? "" : "s"} left.`;
  }
  // An account without a usable password (made by a social sign-in) gives codes instead.
  const withPassword = data.has_usable_password !== false;
  for (const id of ["#mfa-regenerate-password", "#mfa-disable-password", "#passkey-password"]) {
    $(id).disabled = !withPassword;
    $(id).closest("label").hidden = !withPassword;
  }
  $("#mfa-regenerate-code").disabled = withPassword;
  $("#mfa-regenerate-code").closest("label").hidden = withPassword;
}

function showRecoveryCodes(codes) {
  const list = $("#mfa-recovery-codes");
  list.replaceChildren(...(codes || []).map((code) => {
    const item = document.createElement("li");
    item.textContent = code;
    return item;
  }));
  $("#mfa-recovery-box").hidden = false;
}

// Forgets the secrets shown once: the pending key, its QR code and the recovery codes.
function hideTotpSecrets() {
  $("#mfa-qr").removeAttribute("src");
  $("#mfa-secret").textContent = "";
  $("#mfa-setup").hidden = true;
  $("#mfa-recovery-codes").replaceChildren();
  $("#mfa-recovery-box").hidden = true;
}

$("#mfa-setup-start").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    const { status, data } = await api("POST", `${AUTH}mfa/totp/setup/`);
    if (status !== 200) { notice((data && data.detail) || "Two-factor authentication could not be set up.", true); return; }
    showQr($("#mfa-qr"), data.qr_svg);
    $("#mfa-secret").textContent = data.secret;
    $("#mfa-off").hidden = true;
    $("#mfa-setup").hidden = false;
    showErrors($("#mfa-confirm-form"));
    $("#mfa-confirm-code").focus();
  } finally { button.disabled = false; }
});

$("#mfa-setup-cancel").addEventListener("click", () => {
  $("#mfa-confirm-form").reset();
  hideTotpSecrets();
  $("#mfa-off").hidden = false;
});

$("#mfa-confirm-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  submitting(form, async () => {
    const { status, data } = await api("POST", `${AUTH}mfa/totp/confirm/`, { code: $("#mfa-confirm-code").value.trim() });
    if (status !== 200) { showErrors(form, data && data.detail ? { form: data.detail } : data); return; }
    form.reset();
    showErrors(form);
    hideTotpSecrets();
    showRecoveryCodes(data.recovery_codes);
    notice("Two-factor authentication is on.");
    await loadMfa();
  });
});

$("#mfa-recovery-saved").addEventListener("click", () => {
  $("#mfa-recovery-codes").replaceChildren();
  $("#mfa-recovery-box").hidden = true;
});

$("#mfa-regenerate-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  submitting(form, async () => {
    const { status, data } = await api("POST", `${AUTH}mfa/recovery-codes/`, values(form));
    if (status !== 200) { showErrors(form, data && data.detail ? { form: data.detail } : data); return; }
    form.reset();
    showErrors(form);
    showRecoveryCodes(data.recovery_codes);
    notice("New recovery codes made; the old ones no longer work.");
    await loadMfa();
  });
});

$("#mfa-disable-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  submitting(form, async () => {
    const { status, data } = await api("POST", `${AUTH}mfa/totp/disable/`, values(form));
    if (status !== 200) { showErrors(form, data && data.detail ? { form: data.detail } : data); return; }
    form.reset();
    showErrors(form);
    hideTotpSecrets();
    notice(data.detail);
    await loadMfa();
  });
});

// ---- passkeys (WebAuthn) ----

// The server's options carry binary fields as base64url; the browser wants ArrayBuffers,
// and its answer goes back as base64url.
function fromBase64url(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "="));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0)).buffer;
}

function toBase64url(buffer) {
  let binary = "";
  for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// A copy of JSON options without nulls (WebAuthn's dictionaries refuse them).
function withoutNulls(value) {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]));
  }
  return value;
}

// The options of `navigator.credentials.create()` / `.get()` from the server's JSON.
function passkeyOptions(json) {
  const options = withoutNulls(json);
  options.challenge = fromBase64url(options.challenge);
  if (options.user) options.user.id = fromBase64url(options.user.id);
  for (const list of [options.excludeCredentials, options.allowCredentials]) {
    for (const credential of list || []) credential.id = fromBase64url(credential.id);
  }
  return options;
}

// A credential as the server reads it (`credential.toJSON()`'s form).
function credentialJson(credential) {
  const response = credential.response;
  const json = { clientDataJSON: toBase64url(response.clientDataJSON) };
  if (response.attestationObject) {
    json.attestationObject = toBase64url(response.attestationObject);
    if (typeof response.getTransports === "function") json.transports = response.getTransports();
  } else {
    json.authenticatorData = toBase64url(response.authenticatorData);
    json.signature = toBase64url(response.signature);
    json.userHandle = response.userHandle ? toBase64url(response.userHandle) : null;
  }
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    response: json,
    clientExtensionResults: credential.getClientExtensionResults(),
    authenticatorAttachment: credential.authenticatorAttachment || null,
  };
}

// Runs the browser's ceremony (`create` or `get`); null, with the reason shown in `form`,
// when the user cancelled or the device refused.
async function askPasskey(kind, publicKey, form) {
  try {
    const credential = await navigator.credentials[kind]({ publicKey: passkeyOptions(publicKey) });
    return credential ? credentialJson(credential) : null;
  } catch (error) {
    const text = error && error.name === "NotAllowedError" ? "The passkey was not used (cancelled or timed out)."
      : error && error.name === "InvalidStateError" ? "This device holds a passkey of this account already."
        : error && error.name === "SecurityError" ? "Passkeys do not work at this address; open the page at the server's public address."
          : "The passkey could not be used.";
    showErrors(form, { form: text });
    return null;
  }
}

$("#passkey-login").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  const box = $("#passkey-signin");
  button.disabled = true;
  try {
    showErrors(box);
    showErrors($("#login-form"));
    const begun = await send("POST", `${AUTH}passkeys/login/begin/`);
    if (begun.status !== 200) { showErrors(box, { form: (begun.data && begun.data.detail) || "Passkey sign-in is not available." }); return; }
    const credential = await askPasskey("get", begun.data.publicKey, box);
    if (!credential) return;
    const { status, data } = await send("POST", `${AUTH}cookie/passkey/`, { challenge_id: begun.data.challenge_id, credential });
    if (status === 200) { $("#login-form").reset(); await enter(data.user, "Signed in."); }
    else showErrors(box, { form: (data && data.detail) || "The passkey did not sign you in." });
  } finally { button.disabled = false; }
});

async function loadPasskeys() {
  const { status, data } = await api("GET", `${AUTH}passkeys/`);
  const card = $("#passkeys-card");
  card.hidden = status !== 200;
  if (status !== 200) return;
  $("#passkey-add-form").hidden = !PASSKEYS;
  if (!PASSKEYS) $("#passkeys-hint").textContent = "This browser cannot use passkeys.";
  const list = $("#passkeys");
  list.replaceChildren(...data.map(passkeyItem));
}

function passkeyItem(passkey) {
  const item = document.createElement("li");
  item.dataset.passkey = passkey.id;
  const info = document.createElement("div");
  const name = document.createElement("div");
  name.className = "device";
  name.textContent = passkey.name;
  const meta = document.createElement("div");
  meta.className = "meta";
  const used = passkey.last_used_at ? `last used ${formatDate(passkey.last_used_at)}` : "never used";
  meta.textContent = `added ${formatDate(passkey.created_at)} · ${used}`;
  info.append(name, meta);
  const actions = document.createElement("div");
  actions.className = "actions";
  const rename = document.createElement("button");
  rename.type = "button";
  rename.className = "link";
  rename.textContent = "Rename";
  rename.addEventListener("click", () => renamePasskey(item, info, passkey));
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "danger-outline";
  remove.textContent = "Delete";
  remove.addEventListener("click", async () => {
    // A second press confirms.
    if (!remove.dataset.armed) { remove.dataset.armed = "1"; remove.textContent = "Really delete?"; return; }
    const reply = await api("DELETE", `${AUTH}passkeys/${encodeURIComponent(passkey.id)}/`);
    if (reply.status === 204) { notice("Passkey deleted."); await loadPasskeys(); await loadMfa(); await loadIdentities(); return; }
    delete remove.dataset.armed;
    remove.textContent = "Delete";
    notice(fieldText(reply.data) || "The passkey could not be deleted.", true);
  });
  actions.append(rename, remove);
  item.append(info, actions);
  return item;
}

// Every message of a DRF error body, as one sentence.
function fieldText(data) {
  if (!data || typeof data !== "object") return "";
  return Object.values(data).flat().filter((text) => typeof text === "string").join(" ");
}

function renamePasskey(item, info, passkey) {
  const form = document.createElement("form");
  form.className = "inline";
  form.noValidate = true;
  const label = document.createElement("label");
  label.textContent = "New name";
  const input = document.createElement("input");
  input.name = "name";
  input.maxLength = 64;
  input.value = passkey.name;
  const error = document.createElement("span");
  error.className = "error";
  error.dataset.for = "name";
  label.append(input, error);
  const formError = document.createElement("p");
  formError.className = "error";
  formError.dataset.for = "form";
  const save = document.createElement("button");
  save.type = "submit";
  save.className = "primary";
  save.textContent = "Save";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "link";
  cancel.textContent = "Cancel";
  cancel.addEventListener("click", () => loadPasskeys());
  form.append(label, formError, save, cancel);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(form, async () => {
      const { status, data } = await api("PATCH", `${AUTH}passkeys/${encodeURIComponent(passkey.id)}/`, { name: input.value });
      if (status === 200) { notice("Passkey renamed."); await loadPasskeys(); }
      else showErrors(form, data && data.detail ? { form: data.detail } : data);
    });
  });
  info.replaceChildren(form);
  input.focus();
}

// A passkey the browser made whose registration the server refused for a field it checks
// first (the name, the password): the ceremony is still open, so fixing the field finishes
// it without asking the authenticator again.
let madePasskey = null;

$("#passkey-add-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  submitting(form, async () => {
    showErrors(form);
    const name = $("#passkey-name").value.trim() || describeAgent(navigator.userAgent);
    if (!madePasskey) {
      const begun = await api("POST", `${AUTH}passkeys/register/begin/`);
      if (begun.status !== 200) { showErrors(form, begun.data && begun.data.detail ? { form: begun.data.detail } : begun.data); return; }
      const credential = await askPasskey("create", begun.data.publicKey, form);
      if (!credential) return;
      madePasskey = { challenge_id: begun.data.challenge_id, credential };
    }
    // The current password, when the account has one (the server asks for it then).
    const body = { ...madePasskey, name };
    if ($("#passkey-password").value) body.password = $("#passkey-password").value;
    const { status, data } = await api("POST", `${AUTH}passkeys/register/finish/`, body);
    if (status !== 201) {
      const retry = status === 400 && data && Object.keys(data).every((field) => field === "name" || field === "password");
      if (!retry) madePasskey = null;
      showErrors(form, data && data.detail ? { form: data.detail } : data);
      return;
    }
    madePasskey = null;
    form.reset();
    notice(`Passkey "${data.name}" added.`);
    await loadPasskeys();
    await loadMfa();
  });
});

// ---- social login (cookie mode) ----

// The providers' buttons, and what the provider's callback sent back: an error, a pending
// link (kept until the user signs in, then linked), a link made, or a second step owed.
const SOCIAL_ERRORS = {
  access_denied: "The provider did not sign you in.",
  login_failed: "Signing in with the provider failed.",
  email_not_verified: "The provider has not verified your e-mail address.",
  email_required: "The provider did not share an e-mail address.",
  signup_closed: "No account matches, and new accounts cannot be made this way.",
  already_linked: "That provider account is linked to another user.",
  too_many_identities: "Your account has as many linked providers as it may have.",
  throttled: "Too many attempts; try again later.",
};
const SOCIAL_LINK = "tessera-social-link";
let providers = [];
// Loaded once, when the page opens.
let providersLoaded = Promise.resolve();

function providerName(name) {
  const found = providers.find((provider) => provider.name === name);
  return found ? found.display_name : name;
}

// Reads (and removes from the address bar) what the provider's callback sent back.
function socialArrival() {
  const params = new URLSearchParams(location.search);
  const known = ["social_error", "link", "linked", "mfa_token"].filter((name) => params.has(name));
  if (!known.length) return { message: "", bad: false, mfaToken: "", mfaSetup: false, linked: "" };
  let message = "";
  let bad = false;
  if (params.has("social_error")) {
    message = SOCIAL_ERRORS[params.get("social_error")] || SOCIAL_ERRORS.login_failed;
    bad = true;
  }
  if (params.has("link")) {
    // Kept with what it links, for the confirmation once signed in (never linked unasked).
    sessionStorage.setItem(SOCIAL_LINK, JSON.stringify({
      token: params.get("link"),
      provider: params.get("link_provider") || "",
      email: params.get("link_email") || "",
    }));
    message = "An account with this e-mail address exists already. Sign in to it (with your password) to link the provider to it.";
  }
  const linked = params.get("linked") || "";
  const mfaToken = params.get("mfa_token") || "";
  const mfaSetup = params.get("mfa_purpose") === "setup";
  if (mfaToken) message = mfaSetup ? "" : "One more step: confirm it is you with your second factor.";
  history.replaceState(null, "", location.pathname);
  return { message, bad, mfaToken, mfaSetup, linked };
}

async function loadProviders() {
  const reply = await send("GET", `${AUTH}social/providers/`);
  providers = reply.status === 200 && Array.isArray(reply.data) ? reply.data : [];
  $("#social-buttons").replaceChildren(...providers.map((provider) => {
    const a = document.createElement("a");
    a.className = "button";
    a.href = `${provider.start_url}?mode=cookie`;
    a.textContent = provider.display_name;
    return a;
  }));
  socialButtons = providers.length > 0;
  $("#social").hidden = !socialButtons || $("#login-form").hidden;
}

// The providers linked to the account, each with a button to unlink it (the server refuses
// the last way in), and a button to link each other provider.
async function loadIdentities() {
  await providersLoaded;
  const { status, data } = await api("GET", `${AUTH}social/identities/`);
  const identities = status === 200 && Array.isArray(data) ? data : [];
  $("#social-card").hidden = !identities.length && !providers.length;
  $("#identities").replaceChildren(...identities.map((identity) => {
    const item = document.createElement("li");
    item.dataset.identity = identity.id;
    const info = document.createElement("div");
    const name = document.createElement("div");
    name.className = "device";
    name.textContent = providerName(identity.provider);
    const meta = document.createElement("div");
    meta.className = "meta";
    const used = identity.last_login ? `last sign-in ${formatDate(identity.last_login)}` : "never used to sign in";
    meta.textContent = `${identity.email || "no address"} · linked ${formatDate(identity.created_at)} · ${used}`;
    info.append(name, meta);
    const unlink = document.createElement("button");
    unlink.type = "button";
    unlink.className = "danger-outline";
    unlink.textContent = "Unlink";
    unlink.addEventListener("click", async () => {
      const reply = await api("DELETE", `${AUTH}social/identities/${encodeURIComponent(identity.id)}/`);
      if (reply.status === 204) { notice(`Unlinked ${providerName(identity.provider)}.`); await loadIdentities(); }
      else notice(fieldText(reply.data) || "The provider could not be unlinked.", true);
    });
    item.append(info, unlink);
    return item;
  }));
  const linked = new Set(identities.map((identity) => identity.provider));
  $("#social-connect").replaceChildren(...providers.filter((provider) => !linked.has(provider.name)).map((provider) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = `Link ${provider.display_name}`;
    button.addEventListener("click", async () => {
      const reply = await api("POST", `${AUTH}social/${encodeURIComponent(provider.name)}/connect/`);
      if (reply.status === 200 && reply.data.authorize_url) location.assign(reply.data.authorize_url);
      else notice((reply.data && reply.data.detail) || "The provider cannot be reached.", true);
    });
    return button;
  }));
}

// A pending link is never made unasked: the user confirms the provider and the address.
async function finishSocialLink() {
  let pending = null;
  try { pending = JSON.parse(sessionStorage.getItem(SOCIAL_LINK) || "null"); } catch { pending = null; }
  sessionStorage.removeItem(SOCIAL_LINK);
  if (!pending || !pending.token) return;
  await providersLoaded;
  const box = $("#social-link-confirm");
  $("#social-link-text").textContent = `Link the ${providerName(pending.provider)} account ${pending.email || ""} to this account? Only do this if you just signed in with it yourself.`;
  $("#social-card").hidden = false;
  box.hidden = false;
  $("#social-link-no").onclick = () => { box.hidden = true; };
  $("#social-link-yes").onclick = async () => {
    box.hidden = true;
    const { status, data } = await api("POST", `${AUTH}social/link/`, { link_token: pending.token });
    if (status === 201) { notice(`Linked ${providerName(data.provider)} to your account.`); await loadIdentities(); }
    else notice(fieldText(data) || "The provider could not be linked.", true);
  };
}

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
  providersLoaded = loadProviders();
  const social = socialArrival();
  if (reply.status === 200) {
    await enter(reply.data, social.message);
    if (social.bad) notice(social.message, true);
    if (social.linked) notice(`Linked ${providerName(social.linked)} to your account.`);
  } else {
    showSignedOut();
    if (social.mfaToken && social.mfaSetup) await showMfaEnrol(social.mfaToken);
    else if (social.mfaToken) showMfaStep(social.mfaToken, null);
    if (social.message) notice(social.message, social.bad);
  }
})();
