// A chat's scope: the collections and documents its answers may come from. Shown as chips under the header
// ("All documents" when there is none), changed with the picker or by typing # in the composer, and saved
// with the session (PATCH /api/sessions/{id} {scope}); the server searches only inside it.
import { api } from "./api.js";

const MAX_SUGGESTIONS = 8;
const key = (item) => `${item.kind}:${item.id}`;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// What the user may scope a chat to: the collections and ready documents they may read, loaded on demand.
export class Catalog {
  constructor() {
    this.items = null;
    this.loading = null;
  }

  async load({ fresh = false } = {}) {
    if (fresh) this.items = null;
    if (this.items) return this.items;
    this.loading ??= Promise.all([api.collections(), api.documents()]).then(([collections, documents]) => {
      this.items = [
        ...collections.map((c) => ({ kind: "collection", id: c.id, name: c.name,
                                     detail: `Collection · ${c.document_count} document${c.document_count === 1 ? "" : "s"}` })),
        ...documents.filter((d) => d.status === "ready").map((d) => ({
          kind: "document", id: d.id, name: d.title || d.filename || "Untitled",
          detail: `Document · ${d.collection_name}` })),
      ];
      return this.items;
    }).finally(() => { this.loading = null; });
    return this.loading;
  }

  forget() {
    this.items = null;
  }

  // Items whose name holds every word of `text` (case-insensitive); names that start with it first.
  match(text, { limit = MAX_SUGGESTIONS, exclude = new Set() } = {}) {
    const words = text.toLowerCase().split(/\s+/).filter(Boolean);
    const found = (this.items || []).filter((item) => !exclude.has(key(item))
      && words.every((word) => item.name.toLowerCase().includes(word)));
    const starts = (item) => (words.length && item.name.toLowerCase().startsWith(words[0]) ? 0 : 1);
    found.sort((a, b) => starts(a) - starts(b) || (a.kind === b.kind ? 0 : a.kind === "collection" ? -1 : 1)
      || a.name.localeCompare(b.name));
    return found.slice(0, limit);
  }
}

export const scopeBody = (items) => ({
  collections: items.filter((i) => i.kind === "collection").map((i) => i.id),
  documents: items.filter((i) => i.kind === "document").map((i) => i.id),
});

// The chips under the header, and the picker dialog. onChange(items) saves; it resolves to the items saved.
export class ScopeBar {
  constructor({ chips, change, dialog, catalog, onChange }) {
    this.chips = chips;
    this.dialog = dialog;
    this.catalog = catalog;
    this.onChange = onChange;
    this.items = [];
    this.filter = dialog.querySelector("#scope-filter");
    this.options = dialog.querySelector("#scope-options");
    this.note = dialog.querySelector("#scope-note");
    change.addEventListener("click", () => this.openPicker());
    chips.addEventListener("click", (event) => {
      const remove = event.target.closest("[data-remove]");
      if (remove) this.set(this.items.filter((item) => key(item) !== remove.dataset.remove));
    });
    this.filter.addEventListener("input", () => this.#renderOptions());
    dialog.querySelector("#scope-all").addEventListener("click", () => {
      this.picked = new Map();
      this.#renderOptions();
    });
    dialog.querySelector("#scope-apply").addEventListener("click", async () => {
      dialog.close();
      await this.set([...this.picked.values()]);
    });
    dialog.querySelector("#scope-cancel").addEventListener("click", () => dialog.close());
  }

  show(items) {
    this.items = items;
    const list = items.length ? items.map((item) => {
      const chip = el("span", `scope-chip scope-${item.kind}`);
      chip.dataset.key = key(item);
      chip.append(el("span", "scope-kind", item.kind === "collection" ? "Collection" : "Document"),
        el("span", "scope-name", item.name));
      const remove = el("button", "scope-remove", "×");
      remove.type = "button";
      remove.dataset.remove = key(item);
      remove.setAttribute("aria-label", `Remove “${item.name}” from this chat's scope`);
      chip.append(remove);
      return chip;
    }) : [el("span", "scope-chip scope-all", "All documents")];
    this.chips.replaceChildren(...list);
  }

  async set(items) {
    const saved = await this.onChange(items);
    if (saved) this.show(saved);
  }

  add(item) {
    if (this.items.some((i) => key(i) === key(item))) return;
    this.set([...this.items, item]);
  }

  async openPicker() {
    this.picked = new Map(this.items.map((item) => [key(item), item]));
    this.filter.value = "";
    this.options.replaceChildren(el("li", "muted", "Loading…"));
    this.dialog.showModal();
    try {
      await this.catalog.load({ fresh: true });
      this.note.hidden = true;
    } catch (error) {
      this.note.textContent = `Could not load the collections: ${error.message}`;
      this.note.hidden = false;
    }
    this.#renderOptions();
    this.filter.focus();
  }

  #renderOptions() {
    const items = this.catalog.match(this.filter.value, { limit: 200 });
    if (!items.length) {
      this.options.replaceChildren(el("li", "muted", this.filter.value ? "Nothing matches." : "No documents yet."));
      return;
    }
    this.options.replaceChildren(...items.map((item) => {
      const row = el("li", "scope-option");
      const label = el("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = this.picked.has(key(item));
      box.addEventListener("change", () => {
        if (box.checked) this.picked.set(key(item), item);
        else this.picked.delete(key(item));
      });
      const text = el("span", "scope-option-text");
      text.append(el("span", "scope-option-name", item.name), el("span", "scope-option-detail", item.detail));
      label.append(box, text);
      row.append(label);
      return row;
    }));
  }
}

// `#` in the composer: "#contr" lists collections and documents whose name holds "contr"; choosing one
// (click, Enter or Tab) takes the "#contr" out of the message and adds the item to the chat's scope.
export class Mentions {
  constructor({ prompt, list, catalog, onPick }) {
    this.prompt = prompt;
    this.list = list;
    this.catalog = catalog;
    this.onPick = onPick;
    this.matches = [];
    this.active = 0;
    prompt.addEventListener("input", () => this.#update());
    prompt.addEventListener("click", () => this.#update());
    prompt.addEventListener("blur", () => setTimeout(() => this.close(), 150));
    // Registered before the composer's own keys: while the list is open, Enter and Tab choose.
    prompt.addEventListener("keydown", (event) => this.#key(event));
    list.addEventListener("mousedown", (event) => event.preventDefault()); // keep the focus in the prompt
    list.addEventListener("click", (event) => {
      const option = event.target.closest("[data-index]");
      if (option) this.#choose(Number(option.dataset.index));
    });
  }

  get open() {
    return !this.list.hidden;
  }

  // The "#words" just before the caret, if any: [start, text].
  #query() {
    const upto = this.prompt.value.slice(0, this.prompt.selectionStart);
    const match = upto.match(/(?:^|\s)#([^\s#][^#\n]{0,60}|)$/);
    if (!match) return null;
    return [upto.length - match[1].length - 1, match[1]];
  }

  async #update() {
    const query = this.#query();
    if (!query) return this.close();
    try {
      await this.catalog.load();
    } catch {
      return this.close();
    }
    const again = this.#query(); // the text may have changed while the catalog loaded
    if (!again) return this.close();
    this.matches = this.catalog.match(again[1]);
    this.active = 0;
    this.#render();
  }

  #render() {
    if (!this.matches.length) {
      this.list.replaceChildren(el("li", "mention-empty", "No collection or document by that name"));
      this.list.hidden = false;
      this.prompt.removeAttribute("aria-activedescendant");
      return;
    }
    this.list.replaceChildren(...this.matches.map((item, index) => {
      const option = el("li", "mention-option");
      option.id = `mention-${index}`;
      option.setAttribute("role", "option");
      option.dataset.index = index;
      option.setAttribute("aria-selected", String(index === this.active));
      option.append(el("span", "mention-name", item.name), el("span", "mention-detail", item.detail));
      return option;
    }));
    this.list.hidden = false;
    this.prompt.setAttribute("aria-activedescendant", `mention-${this.active}`);
  }

  #key(event) {
    if (!this.open) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.active = (this.active + step + this.matches.length) % Math.max(this.matches.length, 1);
      this.#render();
    } else if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey && this.matches.length) {
      event.preventDefault();
      event.stopImmediatePropagation();
      this.#choose(this.active);
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopImmediatePropagation();
      this.close();
    }
  }

  #choose(index) {
    const item = this.matches[index];
    const query = this.#query();
    if (!item || !query) return;
    const [start] = query;
    const value = this.prompt.value;
    const before = value.slice(0, start).replace(/\s+$/, "");
    const after = value.slice(this.prompt.selectionStart).replace(/^\s+/, "");
    this.prompt.value = before && after ? `${before} ${after}` : before || after;
    const caret = before.length + (before && after ? 1 : 0);
    this.prompt.setSelectionRange(caret, caret);
    this.prompt.dispatchEvent(new Event("input"));
    this.close();
    this.onPick(item);
  }

  close() {
    this.list.hidden = true;
    this.prompt.removeAttribute("aria-activedescendant");
  }
}
