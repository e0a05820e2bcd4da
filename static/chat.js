// The chat page: wires the sidebar, the conversation and the knowledge base, and keeps the current
// session in the URL (/c/<uuid>) so reload and the back button keep it.
import { api } from "./api.js";
import { Conversation } from "./conversation.js";
import { KnowledgeBase } from "./documents.js";
import { Menu } from "./menu.js";
import { Reader } from "./reader.js";
import { Catalog, Mentions, ScopeBar, scopeBody } from "./scope.js";
import { SessionList } from "./sessions.js";

const $ = (id) => document.getElementById(id);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const app = $("app");
const prompt = $("prompt");
const send = $("send");
const stop = $("stop");
const title = $("chat-title");
let current = null;
let currentSession = null; // the open chat as the API last described it (name, pinned, archived, scope)
let pendingScope = []; // the scope chosen for a new chat, saved with it when its first question creates it

function sessionFromUrl() {
  const match = location.pathname.match(/^\/c\/([^/]+)\/?$/);
  const id = match ? match[1] : new URLSearchParams(location.search).get("session");
  return id && UUID.test(id) ? id.toLowerCase() : null;
}

function showTitle(name) {
  title.textContent = name;
  document.title = `${name} · ragchat`;
}

// The open chat's header: its name, its options menu, and a banner while it is archived.
function showSession(session) {
  currentSession = session;
  $("chat-menu-wrap").hidden = !session;
  $("archived-banner").hidden = !session?.archived;
  if (!session) return;
  scopeBar.show(session.scope_items || []);
  showTitle(session.name);
  const menu = $("chat-menu");
  menu.querySelector('[data-action="pin"] span').textContent = session.pinned ? "Unpin chat" : "Pin chat";
  menu.querySelector('[data-action="archive"] span').textContent = session.archived ? "Unarchive chat" : "Archive chat";
  menu.querySelector('[data-action="export-markdown"]').href = api.exportUrl(session.id, "markdown");
  menu.querySelector('[data-action="export-json"]').href = api.exportUrl(session.id, "json");
}

async function changeSession(fields) {
  if (!currentSession) return;
  try {
    const session = await api.updateSession(currentSession.id, fields);
    sessions.upsert(session);
    if (session.id === current) showSession(session);
  } catch (error) {
    $("sessions-error").textContent = `Could not change the chat: ${error.message}`;
    $("sessions-error").hidden = false;
  }
}

// ---- Sidebar (collapses behind the menu button on small screens) ----
function setSidebar(open) {
  app.classList.toggle("sidebar-open", open);
  $("backdrop").hidden = !open;
  $("menu-button").setAttribute("aria-expanded", String(open));
  if (open) $("new-chat").focus();
}
$("menu-button").addEventListener("click", () => setSidebar(true));
$("sidebar-close").addEventListener("click", () => {
  setSidebar(false);
  $("menu-button").focus();
});
$("backdrop").addEventListener("click", () => setSidebar(false));
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && app.classList.contains("sidebar-open")) {
    setSidebar(false);
    $("menu-button").focus();
  }
});

const sessions = new SessionList({
  nav: $("session-nav"),
  pinnedList: $("pinned-list"),
  pinnedHeading: $("pinned-heading"),
  list: $("session-list"),
  recentHeading: $("recent-heading"),
  empty: $("sessions-empty"),
  error: $("sessions-error"),
  more: $("sessions-more"),
  template: $("session-item"),
  search: $("session-search"),
  onSelect: (id) => {
    setSidebar(false);
    openSession(id, { push: true });
  },
  onDeleted: (id) => {
    if (id === current) startNewChat({ push: true });
  },
  onChanged: (session) => {
    if (session.id === current) showSession({ ...currentSession, ...session });
  },
});

// The archive: the same sidebar, listing archived chats, with a way back.
function showArchive(archived, { focus = true } = {}) {
  $("archive-head").hidden = !archived;
  $("open-archive").hidden = archived;
  sessions.showArchive(archived);
  if (focus) (archived ? $("archive-back") : $("open-archive")).focus();
}
$("open-archive").addEventListener("click", () => showArchive(true));
$("archive-back").addEventListener("click", () => showArchive(false));

// ---- The open chat's options: pin, archive, export ----
new Menu($("chat-menu-button"), $("chat-menu"));
$("chat-menu").addEventListener("click", (event) => {
  const action = event.target.closest("[data-action]")?.dataset.action;
  if (action === "pin") changeSession({ pinned: !currentSession.pinned });
  else if (action === "archive") changeSession({ archived: !currentSession.archived });
});
$("unarchive-current").addEventListener("click", () => changeSession({ archived: false }));

// ---- The chat's scope: chips and picker under the header, # in the composer ----
const catalog = new Catalog();
const scopeBar = new ScopeBar({
  chips: $("scope-chips"),
  change: $("scope-change"),
  dialog: $("scope-dialog"),
  catalog,
  onChange: async (items) => {
    if (!currentSession) {
      pendingScope = items; // a new chat: saved when its first question creates it
      return items;
    }
    try {
      const session = await api.updateSession(currentSession.id, { scope: scopeBody(items) });
      sessions.upsert(session);
      if (session.id === current) showSession(session);
      return session.scope_items;
    } catch (error) {
      $("live-status").textContent = `Could not change what this chat answers from: ${error.message}`;
      return null;
    }
  },
});
new Mentions({ prompt, list: $("mention-list"), catalog, onPick: (item) => scopeBar.add(item) });

const knowledgeBase = new KnowledgeBase({ dialog: $("kb-dialog"), onChange: () => catalog.forget() });
// Files dragged over the page open the knowledge base, whose drop zone takes them; dropped elsewhere,
// they must not replace the page with the file.
document.addEventListener("dragenter", (event) => {
  if (event.dataTransfer?.types.includes("Files") && !$("kb-dialog").open) knowledgeBase.open();
});
for (const type of ["dragover", "drop"]) document.addEventListener(type, (event) => event.preventDefault());
$("open-kb").addEventListener("click", () => {
  setSidebar(false);
  knowledgeBase.open();
});

const reader = new Reader({ dialog: $("reader-dialog") });

const conversation = new Conversation({
  scroller: $("messages"),
  thread: $("thread"),
  status: $("live-status"),
  onBusy: (busy) => {
    send.disabled = busy;
    send.hidden = busy;
    stop.hidden = !busy;
    if (busy && document.activeElement === send) stop.focus();
    app.classList.toggle("busy", busy);
  },
  onStopping: (stopping) => {
    stop.disabled = stopping;
    stop.setAttribute("aria-label", stopping ? "Stopping…" : "Stop answering");
  },
  onTurnDone: async (sessionId) => {
    // The first message names the chat, writing in it unarchives it, and it moves to the top.
    const session = await api.session(sessionId).catch(() => null);
    if (!session) return;
    sessions.upsert(session);
    if (sessionId === current) showSession(session);
  },
  onOpenKnowledgeBase: () => knowledgeBase.open(),
  onOpenSource: (source) => reader.open(source),
});

async function openSession(id, { push }) {
  current = id;
  if (push) history.pushState({ session: id }, "", `/c/${id}`);
  sessions.setCurrent(id);
  showSession(null);
  showTitle(sessions.find(id)?.name || "Chat");
  // The chat may not be in the sidebar (a page not loaded yet, the archive): ask for it.
  const [found, session] = await Promise.all([conversation.show(id), api.session(id).catch(() => null)]);
  if (current !== id) return;
  if (found === false) showTitle("Chat not found");
  else if (session) showSession(session);
}

function startNewChat({ push }) {
  current = null;
  if (push && location.pathname !== "/") history.pushState({ session: null }, "", "/");
  sessions.setCurrent(null);
  showSession(null);
  pendingScope = [];
  scopeBar.show([]);
  showTitle("New chat");
  conversation.showNew();
  prompt.focus();
}

$("new-chat").addEventListener("click", () => {
  setSidebar(false);
  startNewChat({ push: true });
});

window.addEventListener("popstate", () => {
  const id = sessionFromUrl();
  if (id) openSession(id, { push: false });
  else startNewChat({ push: false });
});

// ---- Composer: grows with its text; Enter sends, Shift+Enter is a new line ----
function fitPrompt() {
  prompt.style.height = "auto";
  prompt.style.height = `${prompt.scrollHeight}px`;
}
prompt.addEventListener("input", fitPrompt);
prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  } else if (event.key === "Escape" && conversation.busy) {
    event.preventDefault();
    conversation.stop();
  }
});
stop.addEventListener("click", () => conversation.stop());

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = prompt.value.trim();
  if (!text || conversation.busy) return;
  let id = current;
  if (!id) {
    send.disabled = true;
    try {
      const session = await api.createSession(pendingScope.length ? { scope: scopeBody(pendingScope) } : {});
      pendingScope = [];
      if (sessions.archived) showArchive(false, { focus: false });
      sessions.upsert(session);
      id = current = session.id;
      history.replaceState({ session: id }, "", `/c/${id}`);
      sessions.setCurrent(id);
      showSession(session);
      conversation.sessionId = id;
    } catch (error) {
      send.disabled = false;
      conversation.showNew();
      $("thread").prepend(Object.assign(document.createElement("p"), {
        className: "thread-error", textContent: `Could not start a chat: ${error.message}`,
      }));
      return;
    }
  }
  prompt.value = "";
  fitPrompt();
  await conversation.send(id, text);
  prompt.focus();
});

// ---- Start ----
api.config().then((config) => {
  $("offline-banner").hidden = config.chat_backend !== "offline";
}).catch(() => {});

await sessions.load();
const initial = sessionFromUrl();
if (initial) openSession(initial, { push: false });
else startNewChat({ push: false });
document.documentElement.dataset.ready = "true";
