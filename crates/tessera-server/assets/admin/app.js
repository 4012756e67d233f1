// Tessera's admin console. Tokens stay in HttpOnly cookies: this script never sees them.
// Unsafe requests carry the CSRF double-submit header read from the `csrftoken` cookie.
// Every action calls the admin API, which checks staff status and privileges itself.
"use strict";

const $ = (selector) => document.querySelector(selector);
const root = document.documentElement.dataset;
const CSRF_COOKIE = root.csrfCookie || "csrftoken";
const CSRF_HEADER = root.csrfHeader || "X-CSRFToken";
const LOGIN_FIELD = root.loginField === "username" ? "username" : "email";
// Where the routes are: the server's `[routes] prefix` followed by `auth/` and `admin/`.
const AUTH = root.authApi || "/api/auth/";
const ADMIN = root.adminApi || "/api/admin/";
// The custom user fields the configuration declares: `[{name, type, max_length}]`.
let USER_FIELDS = [];
try { USER_FIELDS = JSON.parse(root.userFields || "[]"); } catch { USER_FIELDS = []; }

document.querySelectorAll("[data-login]").forEach((label) => {
  const shown = label.dataset.login === LOGIN_FIELD;
  label.hidden = !shown;
  label.querySelectorAll("input").forEach((input) => { input.disabled = !shown; });
});

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

// Calls the API; when the access cookie has expired, refreshes once and retries. A 403
// for the whole console (not staff any more) shows the refusal.
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

// A refusal or error of the API as one sentence.
function failure(reply) {
  const data = reply.data;
  if (data && typeof data.detail === "string") return data.detail;
  if (data && typeof data === "object") {
    return Object.entries(data).map(([field, messages]) => `${field}: ${[].concat(messages).map((m) => typeof m === "object" ? JSON.stringify(m) : m).join(" ")}`).join("; ");
  }
  return `The request failed (${reply.status}).`;
}

function showErrors(form, data) {
  form.querySelectorAll(".error").forEach((el) => { el.textContent = ""; });
  if (!data) return;
  for (const [field, messages] of Object.entries(data)) {
    const text = Array.isArray(messages) ? messages.map((m) => typeof m === "object" ? JSON.stringify(m) : m).join(" ")
      : typeof messages === "object" ? JSON.stringify(messages) : String(messages);
    const target = form.querySelector(`.error[data-for="${CSS.escape(field)}"]`) || form.querySelector('.error[data-for="form"]');
    if (target) target.textContent = (target.textContent ? target.textContent + " " : "") + text;
  }
}

function formatDate(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined || text === "" ? "—" : String(text);
  if (className) td.className = className;
  row.append(td);
  return td;
}

function yesNo(flag) { return flag ? "yes" : "no"; }

function list(text) {
  return text.split(",").map((item) => item.trim()).filter(Boolean);
}

function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && String(value).trim() !== "") search.set(name, String(value).trim());
  }
  return search.toString();
}

// A paged list: its page number, and the buttons and count of its pager.
function pager(name, load) {
  const state = { page: 1 };
  $(`#${name}-prev`).addEventListener("click", () => { if (state.page > 1) { state.page -= 1; load(); } });
  $(`#${name}-next`).addEventListener("click", () => { state.page += 1; load(); });
  state.show = (data) => {
    $(`#${name}-prev`).disabled = !data.previous;
    $(`#${name}-next`).disabled = !data.next;
    $(`#${name}-count`).textContent = `${data.count} in all · page ${state.page}`;
  };
  return state;
}

// A button that asks once more before it acts: the first click arms it, the second acts.
function confirmButton(button, label, work) {
  button.addEventListener("click", async () => {
    if (button.dataset.armed !== "yes") {
      button.dataset.armed = "yes";
      button.dataset.label = button.textContent;
      button.textContent = label;
      return;
    }
    button.dataset.armed = "";
    button.textContent = button.dataset.label;
    await work();
  });
}

// ---- screens ----

function showSignedOut(message) {
  $("#console").hidden = true;
  $("#user-detail").hidden = true;
  $("#refused").hidden = true;
  $("#nav").hidden = true;
  $("#auth").hidden = false;
  notice(message || "", Boolean(message));
}

// A signed-in user who is not staff: nothing of the console.
function showRefused() {
  $("#console").hidden = true;
  $("#user-detail").hidden = true;
  $("#auth").hidden = true;
  $("#nav").hidden = true;
  $("#refused").hidden = false;
  notice("");
}

async function showConsole(name) {
  $("#auth").hidden = true;
  $("#refused").hidden = true;
  $("#console").hidden = false;
  $("#nav").hidden = false;
  $("#nav-name").textContent = name || "";
  selectTab("#tab-users");
}

// Whether the signed-in user may use the console, asked of the admin API itself.
async function enter(message) {
  const reply = await api("GET", `${ADMIN}users/?page=1`);
  if (reply.status === 403) { showRefused(); return; }
  if (reply.status !== 200) { notice(failure(reply), true); return; }
  const profile = await send("GET", `${AUTH}profile/`);
  const me = profile.status === 200 ? (LOGIN_FIELD === "username" ? profile.data.username : profile.data.email) : "";
  await showConsole(me);
  notice(message || "");
}

function selectTab(id) {
  document.querySelectorAll(".tabs button").forEach((tab) => {
    const selected = `#${tab.id}` === id;
    tab.setAttribute("aria-selected", String(selected));
    $(tab.dataset.panel).hidden = !selected;
  });
  $("#user-detail").hidden = true;
  const load = { "#tab-users": loadUsers, "#tab-groups": loadGroups, "#tab-api-keys": loadApiKeys, "#tab-audit": loadAudit, "#tab-keys": loadKeys }[id];
  load();
}

document.querySelectorAll(".tabs button").forEach((tab) => {
  tab.addEventListener("click", () => { notice(""); selectTab(`#${tab.id}`); });
});

// ---- users ----

const usersPage = pager("users", loadUsers);
let userFilter = {};

async function loadUsers() {
  const reply = await api("GET", `${ADMIN}users/?${query({ ...userFilter, page: usersPage.page })}`);
  const form = $("#user-search");
  if (reply.status === 404 && usersPage.page > 1) { usersPage.page = 1; return loadUsers(); }
  if (reply.status !== 200) { showErrors(form, reply.data && reply.data.detail ? { form: reply.data.detail } : reply.data); return; }
  showErrors(form);
  const body = $("#users");
  body.replaceChildren();
  for (const user of reply.data.results) {
    const row = document.createElement("tr");
    row.className = "clickable";
    row.dataset.userId = user.id;
    cell(row, user.id);
    cell(row, user.email);
    cell(row, user.username);
    cell(row, `${user.first_name || ""} ${user.last_name || ""}`.trim());
    cell(row, yesNo(user.is_active));
    cell(row, yesNo(user.is_staff));
    cell(row, yesNo(user.email_verified));
    row.addEventListener("click", () => openUser(user.id));
    body.append(row);
  }
  usersPage.show(reply.data);
}

$("#user-search").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  userFilter = {
    search: form.search.value,
    is_active: form.is_active.value,
    is_staff: form.is_staff.value,
    email_verified: form.email_verified.value,
  };
  usersPage.page = 1;
  loadUsers();
});

// The inputs of the custom user fields, by their declared type.
(function customFieldInputs() {
  const box = $("#user-custom-fields");
  for (const field of USER_FIELDS) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.name = field.name;
    input.id = `user-field-${field.name}`;
    input.dataset.custom = field.type;
    if (field.type === "boolean") { input.type = "checkbox"; label.className = "check"; }
    else if (field.type === "integer") { input.type = "number"; input.step = "1"; }
    else if (field.type === "date") input.type = "date";
    else if (field.max_length) input.maxLength = field.max_length;
    const error = document.createElement("span");
    error.className = "error";
    error.dataset.for = field.name;
    label.append(`${field.name} `, input, error);
    box.append(label);
  }
})();

// The user open in the details, as the API last returned it.
let current = null;

// What the form shows for a user, field by field, to send only what was changed.
function formValues() {
  const form = $("#user-form");
  const values = {
    first_name: form.first_name.value,
    last_name: form.last_name.value,
    is_active: form.is_active.checked,
    is_staff: form.is_staff.checked,
    email_verified: form.email_verified.checked,
    groups: list(form.groups.value),
    user_permissions: list(form.user_permissions.value),
  };
  form.querySelectorAll("[data-custom]").forEach((input) => {
    const type = input.dataset.custom;
    if (type === "boolean") values[input.name] = input.checked;
    else if (type === "integer") values[input.name] = input.value === "" ? null : Number(input.value);
    else if (type === "date") values[input.name] = input.value === "" ? null : input.value;
    else values[input.name] = input.value;
  });
  return values;
}

function fillUser(user) {
  current = user;
  const form = $("#user-form");
  $("#user-title").textContent = user.email || user.username || `User ${user.id}`;
  $("#user-meta").textContent = `#${user.id}${user.username ? ` · ${user.username}` : ""}${user.is_superuser ? " · superuser" : ""} · joined ${formatDate(user.date_joined)} · last login ${formatDate(user.last_login)}`;
  form.first_name.value = user.first_name || "";
  form.last_name.value = user.last_name || "";
  form.is_active.checked = Boolean(user.is_active);
  form.is_staff.checked = Boolean(user.is_staff);
  form.email_verified.checked = Boolean(user.email_verified);
  form.groups.value = (user.groups || []).join(", ");
  form.user_permissions.value = (user.user_permissions || []).join(", ");
  form.querySelectorAll("[data-custom]").forEach((input) => {
    const value = user[input.name];
    if (input.dataset.custom === "boolean") input.checked = Boolean(value);
    else input.value = value === null || value === undefined ? "" : String(value);
  });
  showErrors(form);
  $("#user-toggle-active").textContent = user.is_active ? "Deactivate" : "Activate";
  $("#user-delete-confirm").hidden = true;
  current.loaded = formValues();
}

async function openUser(id) {
  const reply = await api("GET", `${ADMIN}users/${encodeURIComponent(id)}/`);
  if (reply.status !== 200) { notice(failure(reply), true); return; }
  notice("");
  fillUser(reply.data);
  $("#user-detail").hidden = false;
  await loadUserSessions();
  $("#user-detail").scrollIntoView({ block: "start" });
}

async function loadUserSessions() {
  const reply = await api("GET", `${ADMIN}users/${current.id}/sessions/`);
  const items = $("#user-sessions");
  items.replaceChildren();
  if (reply.status !== 200) return;
  if (reply.data.length === 0) {
    const empty = document.createElement("li");
    empty.className = "muted";
    empty.textContent = "No live session.";
    items.append(empty);
  }
  for (const session of reply.data) {
    const item = document.createElement("li");
    item.dataset.session = session.id;
    const info = document.createElement("div");
    const device = document.createElement("div");
    device.className = "device";
    device.textContent = session.user_agent || "Unknown device";
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = `${session.ip || "unknown address"} · signed in ${formatDate(session.created_at)} · last active ${formatDate(session.last_used_at)} · expires ${formatDate(session.expires_at)}`;
    info.append(device, meta);
    item.append(info);
    items.append(item);
  }
}

// Sends a change of the open user and shows the answer.
async function patchUser(body, done) {
  const reply = await api("PATCH", `${ADMIN}users/${current.id}/`, body);
  const form = $("#user-form");
  if (reply.status === 200) {
    fillUser(reply.data);
    notice(done);
    await loadUserSessions();
    await loadUsers();
  } else showErrors(form, reply.data && reply.data.detail ? { form: reply.data.detail } : reply.data);
  return reply.status === 200;
}

$("#user-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const values = formValues();
  const changes = {};
  for (const [name, value] of Object.entries(values)) {
    if (JSON.stringify(value) !== JSON.stringify(current.loaded[name])) changes[name] = value;
  }
  if (Object.keys(changes).length === 0) { notice("Nothing to save."); return; }
  const button = $("#user-save");
  button.disabled = true;
  try { await patchUser(changes, "User saved."); } finally { button.disabled = false; }
});

$("#user-toggle-active").addEventListener("click", async () => {
  const active = !current.is_active;
  await patchUser({ is_active: active }, active ? "User activated." : "User deactivated: every session ended.");
});

$("#user-unlock").addEventListener("click", async () => {
  const reply = await api("POST", `${ADMIN}users/${current.id}/unlock/`);
  notice(reply.status === 200 ? "Login unlocked." : failure(reply), reply.status !== 200);
});

$("#user-reset-mfa").addEventListener("click", async () => {
  const reply = await api("POST", `${ADMIN}users/${current.id}/reset-mfa/`);
  if (reply.status === 200) {
    notice(reply.data.totp || reply.data.passkeys ? "Two-factor authentication removed." : "No two-factor authentication was set up.");
  } else notice(failure(reply), true);
});

$("#user-revoke-sessions").addEventListener("click", async () => {
  const reply = await api("POST", `${ADMIN}users/${current.id}/revoke_sessions/`);
  if (reply.status === 200) {
    notice(`Sessions ended: ${reply.data.sessions_ended}.`);
    await loadUserSessions();
  } else notice(failure(reply), true);
});

$("#user-delete").addEventListener("click", () => {
  $("#user-delete-name").textContent = current.email || current.username || `user ${current.id}`;
  $("#user-delete-confirm").hidden = false;
});
$("#user-delete-no").addEventListener("click", () => { $("#user-delete-confirm").hidden = true; });
$("#user-delete-yes").addEventListener("click", async () => {
  const reply = await api("DELETE", `${ADMIN}users/${current.id}/`);
  $("#user-delete-confirm").hidden = true;
  if (reply.status === 204) {
    $("#user-detail").hidden = true;
    notice("User deleted.");
    await loadUsers();
  } else notice(failure(reply), true);
});

$("#user-close").addEventListener("click", () => { $("#user-detail").hidden = true; });

// ---- groups ----

const groupsPage = pager("groups", loadGroups);

function editGroup(group) {
  const form = $("#group-form");
  form.id.value = group ? group.id : "";
  form.name.value = group ? group.name : "";
  form.permissions.value = group ? group.permissions.join(", ") : "";
  $("#group-save").textContent = group ? "Save group" : "Create group";
  $("#group-cancel").hidden = !group;
  showErrors(form);
}

async function loadGroups() {
  const reply = await api("GET", `${ADMIN}groups/?page=${groupsPage.page}`);
  if (reply.status !== 200) { notice(failure(reply), true); return; }
  const body = $("#groups");
  body.replaceChildren();
  for (const group of reply.data.results) {
    const row = document.createElement("tr");
    row.dataset.groupId = group.id;
    cell(row, group.id);
    cell(row, group.name);
    cell(row, group.permissions.join(", "));
    const actions = cell(row, "");
    actions.textContent = "";
    const edit = document.createElement("button");
    edit.type = "button";
    edit.className = "link";
    edit.textContent = "Edit";
    edit.addEventListener("click", () => editGroup(group));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "danger-outline";
    remove.textContent = "Delete";
    confirmButton(remove, "Really delete?", async () => {
      const done = await api("DELETE", `${ADMIN}groups/${group.id}/`);
      notice(done.status === 204 ? `Group ${group.name} deleted.` : failure(done), done.status !== 204);
      await loadGroups();
    });
    actions.append(edit, remove);
    body.append(row);
  }
  groupsPage.show(reply.data);
}

$("#group-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const body = { name: form.name.value, permissions: list(form.permissions.value) };
  const id = form.id.value;
  const reply = id ? await api("PATCH", `${ADMIN}groups/${id}/`, body) : await api("POST", `${ADMIN}groups/`, body);
  if (reply.status === 200 || reply.status === 201) {
    editGroup(null);
    notice(id ? "Group saved." : "Group created.");
    await loadGroups();
  } else showErrors(form, reply.data && reply.data.detail ? { form: reply.data.detail } : reply.data);
});
$("#group-cancel").addEventListener("click", () => editGroup(null));

// ---- API keys ----

const apiKeysPage = pager("api-keys", loadApiKeys);

async function loadApiKeys() {
  const form = $("#api-key-filter");
  const reply = await api("GET", `${ADMIN}api-keys/?${query({ user: form.user.value, page: apiKeysPage.page })}`);
  if (reply.status !== 200) { showErrors(form, { form: failure(reply) }); return; }
  showErrors(form);
  const body = $("#api-keys");
  body.replaceChildren();
  for (const key of reply.data.results) {
    const row = document.createElement("tr");
    row.dataset.prefix = key.prefix;
    const state = key.revoked_at ? "revoked" : key.expires_at && new Date(key.expires_at) <= new Date() ? "expired" : "active";
    cell(row, key.user_id);
    cell(row, key.name);
    cell(row, key.prefix);
    cell(row, (key.scopes || []).join(" "));
    cell(row, formatDate(key.created_at));
    cell(row, key.expires_at ? formatDate(key.expires_at) : "never");
    cell(row, key.last_used_at ? `${formatDate(key.last_used_at)} from ${key.last_used_ip || "?"}` : "never");
    cell(row, state, `state-${state}`);
    const actions = cell(row, "");
    actions.textContent = "";
    if (!key.revoked_at) {
      const revoke = document.createElement("button");
      revoke.type = "button";
      revoke.className = "danger-outline";
      revoke.textContent = "Revoke";
      confirmButton(revoke, "Really revoke?", async () => {
        const done = await api("DELETE", `${ADMIN}api-keys/${encodeURIComponent(key.prefix)}/`);
        notice(done.status === 204 ? "API key revoked." : failure(done), done.status !== 204);
        await loadApiKeys();
      });
      actions.append(revoke);
    }
    body.append(row);
  }
  apiKeysPage.show(reply.data);
}

$("#api-key-filter").addEventListener("submit", (event) => {
  event.preventDefault();
  apiKeysPage.page = 1;
  loadApiKeys();
});

// ---- audit log ----

const auditPage = pager("audit", loadAudit);

// A `datetime-local` value (the browser's time zone) as an ISO 8601 time in UTC.
function instant(value) {
  if (!value) return "";
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? value : at.toISOString();
}

async function loadAudit() {
  const form = $("#audit-filter");
  const params = {
    user: form.user.value,
    event: form.event.value,
    outcome: form.outcome.value,
    ip: form.ip.value,
    since: instant(form.since.value),
    until: instant(form.until.value),
    page: auditPage.page,
  };
  const reply = await api("GET", `${ADMIN}audit/?${query(params)}`);
  if (reply.status !== 200) { showErrors(form, reply.data && reply.data.detail ? { form: reply.data.detail } : reply.data); return; }
  showErrors(form);
  const body = $("#audit");
  body.replaceChildren();
  for (const event of reply.data.results) {
    const row = document.createElement("tr");
    row.dataset.event = event.event;
    cell(row, formatDate(event.at), "when");
    cell(row, event.event);
    cell(row, event.outcome);
    cell(row, event.user !== null ? `${event.user}${event.username ? ` (${event.username})` : ""}` : event.username);
    cell(row, event.actor);
    cell(row, event.ip);
    cell(row, event.detail && Object.keys(event.detail).length ? JSON.stringify(event.detail) : "", "detail");
    body.append(row);
  }
  auditPage.show(reply.data);
}

$("#audit-filter").addEventListener("submit", (event) => {
  event.preventDefault();
  auditPage.page = 1;
  loadAudit();
});

// ---- signing keys ----

async function loadKeys() {
  const form = $("#key-form");
  const reply = await api("GET", `${ADMIN}keys/`);
  const body = $("#keys");
  body.replaceChildren();
  if (reply.status !== 200) { showErrors(form, { form: failure(reply) }); return; }
  for (const key of reply.data) {
    const row = document.createElement("tr");
    row.dataset.kid = key.kid;
    cell(row, key.kid);
    cell(row, key.algorithm);
    cell(row, key.state, `state-${key.state}`);
    cell(row, formatDate(key.created_at));
    cell(row, key.activates_at ? formatDate(key.activates_at) : "");
    cell(row, key.retired_at ? formatDate(key.retired_at) : "");
    cell(row, key.expires_at ? formatDate(key.expires_at) : "");
    const actions = cell(row, "");
    actions.textContent = "";
    if (key.state !== "retired" && key.state !== "expired") {
      const retire = document.createElement("button");
      retire.type = "button";
      retire.className = "danger-outline";
      retire.textContent = "Retire";
      confirmButton(retire, "Really retire?", async () => {
        const done = await api("POST", `${ADMIN}keys/${encodeURIComponent(key.kid)}/retire/`);
        notice(done.status === 200 ? `Key ${key.kid} retired: it verifies until ${formatDate(done.data.expires_at)}.` : failure(done), done.status !== 200);
        await loadKeys();
      });
      actions.append(retire);
    }
    body.append(row);
  }
}

function keyBody() {
  const algorithm = $("#key-algorithm").value.trim();
  return algorithm ? { algorithm } : {};
}

$("#key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const reply = await api("POST", `${ADMIN}keys/`, keyBody());
  if (reply.status === 201) { showErrors(form); notice(`Key ${reply.data.kid} generated and published.`); await loadKeys(); }
  else showErrors(form, reply.data && reply.data.detail ? { form: reply.data.detail } : reply.data);
});

$("#key-rotate").addEventListener("click", async () => {
  const form = $("#key-form");
  const reply = await api("POST", `${ADMIN}keys/rotate/`, keyBody());
  if (reply.status === 200) {
    showErrors(form);
    const when = reply.data.activates_at ? ` from ${formatDate(reply.data.activates_at)}` : "";
    notice(`Key ${reply.data.kid} signs${when}.`);
    await loadKeys();
  } else showErrors(form, reply.data && reply.data.detail ? { form: reply.data.detail } : reply.data);
});

// ---- signing in and out ----

$("#login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const body = Object.fromEntries(new FormData(form).entries());
    const { status, data } = await send("POST", `${AUTH}cookie/login/`, body);
    if (status === 200) { form.reset(); showErrors(form); await enter("Signed in."); }
    else showErrors(form, data && data.detail ? { form: data.detail } : data);
  } finally { button.disabled = false; }
});

async function signOut() {
  await send("POST", `${AUTH}cookie/logout/`);
  showSignedOut();
  notice("You are signed out.");
}
$("#logout").addEventListener("click", signOut);
$("#refused-logout").addEventListener("click", signOut);

// On arrival: the console if the cookies sign a staff member in (after a silent refresh if
// need be), the refusal for anyone else, else the sign-in form.
(async function start() {
  let reply = await send("GET", `${ADMIN}users/?page=1`);
  if (reply.status === 401) {
    const refreshed = await send("POST", `${AUTH}cookie/refresh/`);
    if (refreshed.status === 200) reply = await send("GET", `${ADMIN}users/?page=1`);
  }
  if (reply.status === 200) await enter();
  else if (reply.status === 403) showRefused();
  else showSignedOut();
})();
