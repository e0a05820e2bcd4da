// The sidebar: the user's chat sessions, newest first; switch, rename in place, delete.
import { api } from "./api.js";
import { confirmDialog } from "./dialogs.js";

export class SessionList {
  constructor({ list, empty, error, template, onSelect, onDeleted, onRenamed }) {
    Object.assign(this, { list, empty, error, template, onSelect, onDeleted, onRenamed });
    this.sessions = [];
    this.current = null;
    list.addEventListener("click", (event) => this.#click(event));
  }

  async load() {
    try {
      this.sessions = await api.sessions();
      this.error.hidden = true;
    } catch (error) {
      this.error.textContent = `Your chats could not be loaded: ${error.message}`;
      this.error.hidden = false;
    }
    this.render();
  }

  find(id) {
    return this.sessions.find((session) => session.id === id);
  }

  setCurrent(id) {
    this.current = id;
    for (const item of this.list.children) {
      const link = item.querySelector(".session-link");
      if (item.dataset.id === id) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  // A session created or changed by this page goes to the top, as the server would order it.
  upsert(session) {
    this.sessions = [session, ...this.sessions.filter((s) => s.id !== session.id)];
    this.render();
  }

  render() {
    this.list.replaceChildren(...this.sessions.map((session) => this.#item(session)));
    this.empty.hidden = this.sessions.length > 0;
    this.setCurrent(this.current);
  }

  #item(session) {
    const item = this.template.content.firstElementChild.cloneNode(true);
    item.dataset.id = session.id;
    const link = item.querySelector(".session-link");
    link.href = `/c/${session.id}`;
    link.title = session.name;
    item.querySelector(".session-name").textContent = session.name;
    item.querySelector('[data-action="rename"]').setAttribute("aria-label", `Rename “${session.name}”`);
    item.querySelector('[data-action="delete"]').setAttribute("aria-label", `Delete “${session.name}”`);
    return item;
  }

  #click(event) {
    const item = event.target.closest(".session-item");
    if (!item) return;
    const id = item.dataset.id;
    const action = event.target.closest("[data-action]")?.dataset.action;
    if (action === "rename") this.#rename(item);
    else if (action === "delete") this.#delete(id);
    else if (event.target.closest(".session-link")) {
      // Let the browser open it in a new tab on ctrl/cmd/middle click; switch in place otherwise.
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      this.onSelect(id);
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
          const updated = await api.renameSession(session.id, name);
          Object.assign(session, updated);
          this.onRenamed(session);
        } catch (error) {
          this.error.textContent = `Could not rename: ${error.message}`;
          this.error.hidden = false;
        }
      }
      this.render();
      this.list.querySelector(`[data-id="${session.id}"] [data-action="rename"]`)?.focus();
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
        this.error.textContent = `Could not delete: ${error.message}`;
        this.error.hidden = false;
        return;
      }
    }
    this.sessions = this.sessions.filter((s) => s.id !== id);
    this.render();
    this.onDeleted(id);
  }
}
