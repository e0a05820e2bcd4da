// The sidebar: the user's chats a page at a time (the next page loads as the list scrolls), pinned ones
// first; a search over titles and messages; the archive, apart. Switch, rename in place, unarchive, delete.
import { api, sessionsUrl } from "./api.js";
import { confirmDialog } from "./dialogs.js";

const SEARCH_DELAY_MS = 250; // wait for a pause in typing before asking the server
const LOAD_AHEAD = "300px"; // start loading the next page this far before the end of the list comes into view

// The server's order: pinned first, then the latest activity first.
const before = (a, b) => (a.pinned !== b.pinned ? a.pinned : Date.parse(a.updated_at) > Date.parse(b.updated_at));

export class SessionList {
  constructor({ nav, pinnedList, pinnedHeading, list, recentHeading, empty, error, more, template, search,
    onSelect, onDeleted, onChanged }) {
    Object.assign(this, { nav, pinnedList, pinnedHeading, list, recentHeading, empty, error, more, template,
      search, onSelect, onDeleted, onChanged });
    this.sessions = [];
    this.next = null; // the next page's URL, null when every chat of this view is listed
    this.view = { archived: false, search: "" };
    this.generation = 0; // bumped for each new listing, so a late page cannot land in another one
    this.loading = false;
    this.current = null;
    for (const ul of [pinnedList, list]) ul.addEventListener("click", (event) => this.#click(event));
    let timer = 0;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.#search(search.value.trim()), SEARCH_DELAY_MS);
    });
    search.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && search.value) {
        event.stopPropagation();
        search.value = "";
        clearTimeout(timer);
        this.#search("");
      } else if (event.key === "Enter") {
        clearTimeout(timer);
        this.#search(search.value.trim());
      }
    });
    more.querySelector("button").addEventListener("click", () => this.loadMore());
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) this.loadMore();
    }, { root: nav, rootMargin: `0px 0px ${LOAD_AHEAD} 0px` });
    this.observer.observe(more);
  }

  get archived() {
    return this.view.archived;
  }

  // The first page of the current view (chats or archive, with or without search words).
  async load() {
    const generation = ++this.generation;
    this.loading = true;
    try {
      const page = await api.sessionsPage(sessionsUrl(this.view));
      if (generation !== this.generation) return;
      this.sessions = page.results;
      this.next = page.next;
      this.error.hidden = true;
    } catch (error) {
      if (generation !== this.generation) return;
      this.#fail(`Your chats could not be loaded: ${error.message}`);
    } finally {
      if (generation === this.generation) this.loading = false;
    }
    this.render();
  }

  async loadMore() {
    if (!this.next || this.loading) return;
    const generation = this.generation;
    this.loading = true;
    try {
      const page = await api.sessionsPage(this.next);
      if (generation !== this.generation) return;
      const known = new Set(this.sessions.map((s) => s.id)); // a chat that moved up may come again
      this.sessions.push(...page.results.filter((s) => !known.has(s.id)));
      this.next = page.next;
    } catch (error) {
      if (generation === this.generation) this.#fail(`More chats could not be loaded: ${error.message}`);
    } finally {
      if (generation === this.generation) this.loading = false;
    }
    if (generation === this.generation) this.render();
  }

  showArchive(archived) {
    this.view = { archived, search: "" };
    this.search.value = "";
    this.search.placeholder = archived ? "Search archived chats" : "Search chats";
    this.sessions = [];
    this.next = null;
    this.render();
    return this.load();
  }

  find(id) {
    return this.sessions.find((session) => session.id === id);
  }

  setCurrent(id) {
    this.current = id;
    for (const item of this.#items()) {
      const link = item.querySelector(".session-link");
      if (item.dataset.id === id) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  // A chat created or changed by this page takes the place the server would give it, if it belongs here.
  upsert(session) {
    const listed = this.find(session.id);
    this.sessions = this.sessions.filter((s) => s.id !== session.id);
    const belongs = session.archived === this.view.archived && (!this.view.search || listed);
    if (belongs) {
      const at = this.sessions.findIndex((other) => before(session, other));
      if (at === -1 && this.next) return this.render(); // it comes later, with a page not loaded yet
      this.sessions.splice(at === -1 ? this.sessions.length : at, 0, { ...listed, ...session });
    }
    this.render();
  }

  render() {
    const pinned = this.sessions.filter((s) => s.pinned);
    const rest = this.sessions.filter((s) => !s.pinned);
    this.pinnedList.replaceChildren(...pinned.map((session) => this.#item(session)));
    this.list.replaceChildren(...rest.map((session) => this.#item(session)));
    this.pinnedHeading.hidden = !pinned.length;
    this.recentHeading.hidden = !pinned.length || !rest.length;
    this.empty.textContent = this.view.search ? `No chats match “${this.view.search}”.`
      : this.view.archived ? "No archived chats." : "No chats yet. Ask a question to start your first one.";
    this.empty.hidden = this.sessions.length > 0 || this.loading;
    this.more.hidden = !this.next;
    this.setCurrent(this.current);
    // observe() reports the sentinel's state at once: a page that does not fill the sidebar loads the next.
    this.observer.unobserve(this.more);
    this.observer.observe(this.more);
  }

  #items() {
    return [...this.pinnedList.children, ...this.list.children];
  }

  #fail(message) {
    this.error.textContent = message;
    this.error.hidden = false;
  }

  #search(words) {
    if (words === this.view.search) return;
    this.view = { ...this.view, search: words };
    this.load();
  }

  #item(session) {
    const item = this.template.content.firstElementChild.cloneNode(true);
    item.dataset.id = session.id;
    const link = item.querySelector(".session-link");
    link.href = `/c/${session.id}`;
    link.title = session.name;
    item.querySelector(".session-name").textContent = session.name;
    const match = item.querySelector(".session-match");
    match.textContent = session.match || "";
    match.hidden = !session.match;
    const label = (action, verb) =>
      item.querySelector(`[data-action="${action}"]`).setAttribute("aria-label", `${verb} “${session.name}”`);
    label("rename", "Rename");
    label("delete", "Delete");
    label("unarchive", "Unarchive");
    item.querySelector('[data-action="unarchive"]').hidden = !session.archived;
    return item;
  }

  #click(event) {
    const item = event.target.closest(".session-item");
    if (!item) return;
    const id = item.dataset.id;
    const action = event.target.closest("[data-action]")?.dataset.action;
    if (action === "rename") this.#rename(item);
    else if (action === "delete") this.#delete(id);
    else if (action === "unarchive") this.#unarchive(id);
    else if (event.target.closest(".session-link")) {
      // Let the browser open it in a new tab on ctrl/cmd/middle click; switch in place otherwise.
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      this.onSelect(id);
    }
  }

  async #unarchive(id) {
    try {
      const session = await api.updateSession(id, { archived: false });
      this.upsert(session);
      this.onChanged(session);
      this.search.focus();
    } catch (error) {
      this.#fail(`Could not unarchive: ${error.message}`);
    }
  }

  #rename(item) {
    const session = this.find(item.dataset.id);
    const link = item.querySelector(".session-link");
    const input = document.createElement("input");
    input.className = "session-rename";
    input.value = session.name;
    input.maxLength = 200;
    input.setAttribute("aria-label", "Chat name");
    link.replaceWith(input);
    item.classList.add("renaming");
    input.focus();
    input.select();

    let finished = false;
    const finish = async (save) => {
      if (finished) return;
      finished = true;
      const name = input.value.trim();
      if (save && name && name !== session.name) {
        try {
          Object.assign(session, await api.updateSession(session.id, { name }));
          this.onChanged(session);
        } catch (error) {
          this.#fail(`Could not rename: ${error.message}`);
        }
      }
      this.render();
      this.#items().find((li) => li.dataset.id === session.id)?.querySelector('[data-action="rename"]')?.focus();
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        finish(true);
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        finish(false);
      }
    });
    input.addEventListener("blur", () => finish(true));
  }

  async #delete(id) {
    const session = this.find(id);
    const confirmed = await confirmDialog({
      title: "Delete this chat?",
      body: `“${session.name}” and all its messages will be deleted. This cannot be undone.`,
    });
    if (!confirmed) return;
    try {
      await api.deleteSession(id);
    } catch (error) {
      if (error.status !== 404) {
        this.#fail(`Could not delete: ${error.message}`);
        return;
      }
    }
    this.sessions = this.sessions.filter((s) => s.id !== id);
    this.render();
    this.onDeleted(id);
  }
}
