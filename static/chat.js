// The chat page: wires the sidebar, the conversation and the knowledge base, and keeps the current
// session in the URL (/c/<uuid>) so reload and the back button keep it.
import { api } from "./api.js";
import { Conversation } from "./conversation.js";
import { KnowledgeBase } from "./documents.js";
import { SessionList } from "./sessions.js";

const $ = (id) => document.getElementById(id);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const app = $("app");
const prompt = $("prompt");
const send = $("send");
const title = $("chat-title");
let current = null;

function sessionFromUrl() {
  const match = location.pathname.match(/^\/c\/([^/]+)\/?$/);
  const id = match ? match[1] : new URLSearchParams(location.search).get("session");
  return id && UUID.test(id) ? id.toLowerCase() : null;
}

function showTitle(name) {
  title.textContent = name;
  document.title = `${name} · ragchat`;
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
  list: $("session-list"),
  empty: $("sessions-empty"),
  error: $("sessions-error"),
  template: $("session-item"),
  onSelect: (id) => {
    setSidebar(false);
    openSession(id, { push: true });
  },
  onDeleted: (id) => {
    if (id === current) startNewChat({ push: true });
  },
  onRenamed: (session) => {
    if (session.id === current) showTitle(session.name);
  },
});

const knowledgeBase = new KnowledgeBase({ dialog: $("kb-dialog") });
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

const conversation = new Conversation({
  scroller: $("messages"),
  thread: $("thread"),
  status: $("live-status"),
  onBusy: (busy) => {
    send.disabled = busy;
    app.classList.toggle("busy", busy);
  },
  onTurnDone: async (sessionId) => {
    await sessions.load(); // the first message names the chat, and the chat moves to the top
    const session = sessions.find(sessionId);
    if (session && sessionId === current) showTitle(session.name);
  },
  onOpenKnowledgeBase: () => knowledgeBase.open(),
});

async function openSession(id, { push }) {
  current = id;
  if (push) history.pushState({ session: id }, "", `/c/${id}`);
  sessions.setCurrent(id);
  showTitle(sessions.find(id)?.name || "Chat");
  const found = await conversation.show(id);
  if (found === false && current === id) showTitle("Chat not found");
  else if (found && current === id) showTitle(sessions.find(id)?.name || "Chat");
}

function startNewChat({ push }) {
  current = null;
  if (push && location.pathname !== "/") history.pushState({ session: null }, "", "/");
  sessions.setCurrent(null);
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
  }
});

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = prompt.value.trim();
  if (!text || conversation.busy) return;
  let id = current;
  if (!id) {
    send.disabled = true;
    try {
      const session = await api.createSession();
      sessions.upsert(session);
      id = current = session.id;
      history.replaceState({ session: id }, "", `/c/${id}`);
      sessions.setCurrent(id);
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
