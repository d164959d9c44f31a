// TaskFlow web app: one sign-in for the whole browser, an address for every view, a changed task never
// thrown away without asking, Esc that leaves any field, and where a new task went.
"use strict";

// ---------- the session: an HttpOnly cookie the server sets; this page only knows who it is ----------

// On start: the cookie says who is signed in (every tab, and the browser reopened, for 30 days).
// Offline, the last account seen on this browser opens with its offline copy.
async function resumeSession() {
  let saved = null;
  try { saved = JSON.parse(localStorage.getItem(SESSION_KEY) || "null"); } catch (_) { saved = null; }
  try {
    const who = await api("GET", "/api/auth/session");
    saveSession({ userId: who.user_id, email: who.email });
    startApp();
  } catch (error) {
    if (error.network && saved && saved.userId) { saveSession(saved); startApp(); return; }
    if (saved && saved.userId) { saveSession(saved); signOut("Your session has expired. Please sign in again."); return; }
    $("email").focus();
  }
}

// Sign-out clears the cookie on the server's side too (it is HttpOnly: the page cannot).
function forgetSessionCookie() {
  fetch("/api/auth/logout", { method: "POST", headers: { "X-Requested-With": "fetch" }, keepalive: true }).catch(() => {});
}

// Another tab of this browser signed in: so is this one (the cookie is the browser's).
function onSessionMessage({ data }) {
  if (!data || data.type !== "signed-in") return;
  if (state.session && state.session.userId === data.user) return;
  if (state.session) { state.session = null; signOut(""); }  // another account now: this tab's view of the old one goes
  saveSession({ userId: data.user, email: data.email });
  startApp();
}

async function signOutEverywhere() {
  if (!window.confirm("Sign out everywhere? Every browser and app signed in to this account has to sign in again, "
    + "and changes this browser has not sent yet are dropped.")) return;
  $("settings").close();
  try { await api("POST", "/api/auth/logout-all"); } catch (error) {
    if (error.status !== 401) { toast(`Could not sign out everywhere: ${error.message}`); return; }
  }
  if (!state.session) return;
  const user = state.session.userId;
  await forgetQueue(user);
  await forgetCaches();
  broadcast({ type: "signed-out", user });
  signOut("Signed out everywhere: every browser and app has to sign in again.");
}

// ---------- addresses: /inbox, /today, /upcoming, /all, /completed, /search?q=, /lists/<id>, /tasks/<id>, /settings ----------

const ADDRESS_VIEWS = ["inbox", "today", "upcoming", "all", "completed", "search"];
let routing = false;   // while the page follows an address (reload, back, forward), it records none
let closingOverlay = false; // remember() went back to the view under a closed task or settings: its popstate

function addressOf(entry) {
  if (entry.task) return `/tasks/${entry.task}`;
  if (entry.settings) return "/settings";
  if (entry.view.startsWith("list:")) return `/lists/${entry.view.slice(5)}`;
  if (entry.view.startsWith("filter:")) return `/filters/${entry.view.slice(7)}`;
  if (entry.view.startsWith("tag:")) return `/tags/${encodeURIComponent(entry.view.slice(4))}`;
  if (entry.view === "search") return state.search ? `/search?q=${encodeURIComponent(state.search)}` : "/search";
  return `/${entry.view}`;
}

function readAddress() {
  const path = location.pathname.replace(/\/+$/, "") || "/";
  const under = (history.state && history.state.view) || (/^(list|filter|tag):/.test(state.view) || ADDRESS_VIEWS.includes(state.view) ? state.view : "inbox");
  const item = path.match(/^\/(lists|tasks)\/([0-9A-Fa-f][0-9A-Fa-f-]*)$/);
  if (item && item[1] === "lists") return { view: `list:${item[2]}` };
  if (item) return { view: under, task: item[2] };
  if (path === "/settings") return { view: under, settings: true };
  const saved = path.match(/^\/filters\/([0-9A-Fa-f][0-9A-Fa-f-]*)$/);
  if (saved) return { view: `filter:${saved[1]}` };
  const tag = path.match(/^\/tags\/([^/]+)$/);
  if (tag) return { view: `tag:${decodeURIComponent(tag[1])}` };
  if (path === "/search") return { view: "search", q: new URLSearchParams(location.search).get("q") || "" };
  const name = path.slice(1);
  return { view: ADDRESS_VIEWS.includes(name) ? name : "inbox" };
}

function currentEntry() {
  return { view: state.view, task: state.panelTask || null, settings: $("settings").open };
}

// What is shown now becomes the address: a new view is a new history entry; a task or the settings
// open over a view is one too, and closing it goes back to the view's entry (the back button then
// leaves that view, not the task).
function remember() {
  if (routing || !state.session) return;
  const entry = currentEntry();
  const url = addressOf(entry);
  const was = history.state || {};
  const overlay = Boolean(entry.task || entry.settings);
  if (location.pathname + location.search === url) { history.replaceState({ ...was, ...entry }, "", url); return; }
  if (!overlay && (was.task || was.settings)) {
    if (was.over && was.view === entry.view) { closingOverlay = true; history.back(); return; }
    history.replaceState(entry, "", url);
    return;
  }
  if (overlay && (was.task || was.settings)) { history.replaceState({ ...entry, over: was.over }, "", url); return; }
  history.pushState({ ...entry, over: overlay }, "", url);
}

// Show what the address names (on start, and on back/forward).
function applyAddress() {
  const address = readAddress();
  routing = true;
  try {
    if (address.view === "search") { state.search = address.q || ""; $("search").value = state.search; }
    if (/^(filter|tag):/.test(address.view)) { if (address.view !== state.view) openFilterView(address.view); }
    else if (address.view !== state.view || address.view === "search") setView(address.view);
    if (address.task) { state.wantedTask = address.task; openWantedTask(); }
    else if (state.panelTask) closePanel();
    if (address.settings && !$("settings").open) openSettingsWhenReady();
    else if (!address.settings && $("settings").open) $("settings").close();
    if (location.pathname === "/") history.replaceState(currentEntry(), "", addressOf(currentEntry()));
  } finally { routing = false; }
}

// A task named by the address opens once it is loaded (after a reload the tasks come a moment later).
function openWantedTask() {
  const id = state.wantedTask;
  if (!id || !state.session) return;
  if (!state.tasks.has(id)) {
    if (!state.loading && state.tasks.size && !state.fromOffline) {
      state.wantedTask = null;
      toast("That task is not here: it was deleted, or it belongs to another account.");
      history.replaceState({ view: state.view }, "", addressOf({ view: state.view }));
    }
    return;
  }
  state.wantedTask = null;
  const was = routing;
  routing = true;
  try { openPanel(id); } finally { routing = was; }
}

function openSettingsWhenReady(tries = 0) {
  if (state.prefs || tries > 20) { if (!$("settings").open) { routing = true; try { openSettings(); } finally { routing = false; } } return; }
  setTimeout(() => openSettingsWhenReady(tries + 1), 150);
}

function leaveAddress() {
  if (/^\/(tasks|lists|settings)/.test(location.pathname)) history.replaceState(null, "", "/");
}

function onPopState() {
  if (closingOverlay) { closingOverlay = false; return; }  // the back() that closed an overlay: already shown
  if (!state.session) return;
  const address = readAddress();
  if (state.panelTask && address.task !== state.panelTask && panelDirty() && !window.confirm("Discard changes?")) {
    const entry = currentEntry();
    history.pushState({ ...entry, over: true }, "", addressOf(entry));  // stay: the address is the task again
    return;
  }
  if (address.task !== state.panelTask) panelBase = null;  // asked (or nothing to lose): not asked again below
  applyAddress();
}

// ---------- a half-done edit is never thrown away without asking ----------

function panelDirty() {
  if (panelSaving || !state.panelTask || $("panel").hidden || !panelBase || panelBase.id !== state.panelTask) return false;
  return Object.keys(changedFields(readPanelForm())).length > 0
    || $("p-repeat").value.trim() !== ($("p-repeat").dataset.initial || "") || $("p-reminder").value !== "";
}

// Whether the open task may be closed: nothing changed, or the person says so.
function leavePanelOk() {
  if (routing || !panelDirty()) return true;
  if (!window.confirm("Discard changes?")) return false;
  panelBase = null;
  return true;
}

// ---------- keyboard: Esc leaves any field ----------

function leaveField(event) {
  const target = event.target instanceof Element ? event.target : document.body;
  if (target.closest("dialog")) return;  // a dialog closes itself on Esc
  if (target.closest("#panel") || (!typing(target) && state.panelTask)) {
    if (state.panelTask && leavePanelOk()) closePanel();
    else if (typing(target)) target.blur();
    return;
  }
  if (typing(target)) target.blur();
  closeQuick();
}

// ---------- where a new task went ----------

// A task added where the view does not show it (no date from Upcoming, another list) says where it went.
function announceWhere(task) {
  if (!state.session || state.view === "search" || inView(task, state.view)) return;
  const list = task.list_id ? state.lists.get(task.list_id) : null;
  const view = list ? `list:${list.id}` : "inbox";
  const name = list ? list.name : "Inbox";
  toast(`Added to ${name}.`, { label: `Open ${name}`, run: () => setView(view) }, 10000);
}

// The full form's List field: the lists, the one in view chosen.
function fillListChoice(lists) {
  const select = $("task-list");
  const keep = select.value || (state.view.startsWith("list:") ? state.view.slice(5) : "");
  select.replaceChildren(el("option", { value: "" }, "Inbox (no list)"), ...lists.map((l) => el("option", { value: l.id }, l.name)));
  select.value = lists.some((l) => l.id === keep) ? keep : "";
}

// ---------- the calendar link, shown again ----------

function showFeed(feed) {
  state.feed = feed;
  $("feed-url").value = feed && feed.url ? feed.url : "";
  $("feed-url").placeholder = feed ? "a link made before links could be shown again: replace it to see one" : "no link yet";
  $("feed-create").textContent = feed ? "Replace link" : "Get calendar link";
  $("feed-revoke").hidden = !feed;
}

async function loadFeed() {
  try { showFeed(await api("GET", "/api/{me}/calendar-feed")); }
  catch (error) { if (error.status === 404) showFeed(null); }
}

function initShell() {
  window.addEventListener("popstate", onPopState);
  window.addEventListener("beforeunload", (event) => { if (panelDirty()) { event.preventDefault(); event.returnValue = ""; } });
  $("settings").addEventListener("close", () => remember());
  $("signout-all").addEventListener("click", signOutEverywhere);
  $("search").addEventListener("input", () => {
    if (state.view === "search" && state.session) history.replaceState(currentEntry(), "", addressOf(currentEntry()));
  });
  if (sync.channel) sync.channel.addEventListener("message", onSessionMessage);
}

init();
