// The knowledge base panel: upload (picker or drag and drop) with progress, then follow each document live
// while a worker reads and embeds it (the list is polled while anything is unfinished); retry, cancel, delete.
import { api, detailOf } from "./api.js";
import { confirmDialog } from "./dialogs.js";
import { icon } from "./icons.js";

const POLL_MS = 1500;
const unfinished = (doc) => doc.status === "pending" || doc.status === "processing";

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return "";
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

const plural = (count, noun) => `${count} ${noun}${count === 1 ? "" : "s"}`;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// Where a document's job is, in words (knowledge/models.py Document.progress_text says the same).
export function progressText(doc) {
  switch (doc.stage) {
    case "queued": return "Queued";
    case "reading": return doc.page_count ? `Reading page ${doc.pages_read} of ${doc.page_count}` : "Reading";
    case "ocr": return `Recognising text (OCR): page ${doc.pages_read} of ${doc.page_count}`;
    case "embedding": return `Embedding: ${doc.chunks_embedded} of ${doc.chunk_count} chunks`;
    case "saving": return "Saving";
    default: return "";
  }
}

// The fraction done of the current stage, or null when it cannot be told (indeterminate).
export function progressFraction(doc) {
  if ((doc.stage === "reading" || doc.stage === "ocr") && doc.page_count) return doc.pages_read / doc.page_count;
  if (doc.stage === "embedding" && doc.chunk_count) return doc.chunks_embedded / doc.chunk_count;
  if (doc.stage === "saving") return 1;
  return null;
}

// What an upload's answer means to the person who dropped the file.
export function uploadOutcome(status, body) {
  const detail = detailOf(body, status);
  if (status === 202) return { kind: "ok", text: "Uploaded · processing in the background" };
  if (status === 201 || status === 200) {
    const chunks = body && body.chunk_count != null ? ` · ${plural(body.chunk_count, "chunk")}` : "";
    return { kind: "ok", text: `Ready${chunks}` };
  }
  if (status === 409) {
    const title = body && body.document && body.document.title;
    return { kind: "warn", text: title ? `Duplicate: already uploaded as “${title}”` : `Duplicate: ${detail}` };
  }
  if (status === 413) return { kind: "error", text: `Too large: ${detail}` };
  if (status === 415) {
    return { kind: "error", text: /unsupported/i.test(detail) ? detail : `Unsupported file type: ${detail}` };
  }
  if (status === 0) return { kind: "error", text: "Failed: the server could not be reached." };
  return { kind: "error", text: `Failed: ${detail}` };
}

export class KnowledgeBase {
  constructor({ dialog, onChange }) {
    this.dialog = dialog;
    this.onChange = onChange;
    this.list = dialog.querySelector("#document-list");
    this.uploads = dialog.querySelector("#upload-list");
    this.empty = dialog.querySelector("#documents-empty");
    this.error = dialog.querySelector("#documents-error");
    this.count = dialog.querySelector("#document-count");
    this.target = dialog.querySelector("#upload-collection");
    this.collections = [];
    this.queue = Promise.resolve();
    this.#wireCollectionForm();

    dialog.querySelector("[data-close]").addEventListener("click", () => dialog.close());
    // A click on the backdrop (outside the drawer's box) closes it, like Escape.
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) {
        const r = dialog.getBoundingClientRect();
        const inside = event.clientX >= r.left && event.clientX <= r.right
          && event.clientY >= r.top && event.clientY <= r.bottom;
        if (!inside) dialog.close();
      }
    });
    const input = dialog.querySelector("#file-input");
    input.addEventListener("change", () => {
      this.upload([...input.files]);
      input.value = "";
    });
    const zone = dialog.querySelector("#dropzone");
    for (const type of ["dragenter", "dragover"]) {
      dialog.addEventListener(type, (event) => {
        if (!event.dataTransfer?.types.includes("Files")) return;
        event.preventDefault();
        zone.classList.add("dragging");
      });
    }
    dialog.addEventListener("dragleave", (event) => {
      if (!dialog.contains(event.relatedTarget)) zone.classList.remove("dragging");
    });
    dialog.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      this.upload([...(event.dataTransfer?.files || [])]);
    });
    this.list.addEventListener("change", (event) => {
      const move = event.target.closest("[data-move]");
      if (move) this.move(Number(move.dataset.move), Number(move.value));
    });
    this.list.addEventListener("click", (event) => {
      const remove = event.target.closest("[data-delete]");
      if (remove) this.remove(Number(remove.dataset.delete), remove.dataset.title, remove.dataset.unfinished === "1");
      const retry = event.target.closest("[data-retry]");
      if (retry) this.retry(Number(retry.dataset.retry));
    });
    dialog.addEventListener("close", () => this.#stopPolling());
  }

  open() {
    if (!this.dialog.open) this.dialog.showModal();
    this.loadCollections().then(() => this.load()); // collections first: each document offers them to move to
  }

  // The collections the user may read, as the upload form's choices (the default collection first).
  async loadCollections(choose = null) {
    const chosen = choose ?? this.target.value;
    const collections = await api.collections().catch(() => []);
    collections.sort((a, b) => (a.name === "General" ? -1 : b.name === "General" ? 1 : a.name.localeCompare(b.name)));
    this.collections = collections;
    this.target.replaceChildren(...collections.map((c) => {
      const option = el("option", "", c.name);
      option.value = c.id;
      return option;
    }));
    if (chosen && collections.some((c) => String(c.id) === String(chosen))) this.target.value = String(chosen);
  }

  // "New collection…": a name and who reads it; the new collection becomes the upload target.
  #wireCollectionForm() {
    const form = this.dialog.querySelector("#collection-form");
    const toggle = this.dialog.querySelector("#new-collection");
    const error = this.dialog.querySelector("#collection-error");
    const show = (open) => {
      form.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
      error.hidden = true;
      if (open) form.querySelector("#collection-name").focus();
    };
    toggle.addEventListener("click", () => show(form.hidden));
    this.dialog.querySelector("#collection-cancel").addEventListener("click", () => show(false));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = form.querySelector("#collection-name");
      try {
        const created = await api.createCollection({
          name: name.value, visibility: form.querySelector("#collection-visibility").value,
        });
        name.value = "";
        show(false);
        await this.loadCollections(created.id);
        this.onChange?.();
      } catch (failure) {
        error.textContent = failure.message;
        error.hidden = false;
      }
    });
  }

  async load() {
    const before = new Map((this.documents || []).map((d) => [d.id, d.status]));
    if (!this.target.options.length) await this.loadCollections();
    try {
      this.documents = await api.documents();
      this.error.hidden = true;
    } catch (error) {
      this.error.textContent = `The documents could not be loaded: ${error.message}`;
      this.error.hidden = false;
      this.#schedulePoll();
      return;
    }
    this.render();
    // A document that became ready (or went) changes what chats can answer from.
    if (this.documents.some((d) => before.has(d.id) && before.get(d.id) !== d.status && d.status === "ready")) {
      this.onChange?.();
    }
    this.#schedulePoll();
  }

  // Live progress: poll while the panel is open and some document is still being processed.
  #schedulePoll() {
    this.#stopPolling();
    if (!this.dialog.open || !(this.documents || []).some(unfinished)) return;
    this.pollTimer = setTimeout(() => this.load(), POLL_MS);
  }

  #stopPolling() {
    clearTimeout(this.pollTimer);
    this.pollTimer = null;
  }

  render() {
    this.list.replaceChildren(...this.documents.map((d) => this.#item(d)));
    this.empty.hidden = this.documents.length > 0;
    this.count.textContent = this.documents.length ? String(this.documents.length) : "";
  }

  #item(doc) {
    const item = el("li", "document");
    item.dataset.id = doc.id;
    const main = el("div", "document-main");
    main.append(el("div", "document-title", doc.title || doc.filename || "Untitled"));
    const meta = el("div", "document-meta");
    meta.append(el("span", `badge badge-${doc.status}`, doc.status));
    if (doc.can_delete && this.collections.length > 1) {
      // Its uploader, the collection's owner and staff may move it to another collection they read.
      const move = el("select", "document-collection document-move");
      move.dataset.move = doc.id;
      move.setAttribute("aria-label", `Collection of “${doc.title || doc.filename || "Untitled"}”`);
      const choices = this.collections.some((c) => c.id === doc.collection)
        ? this.collections : [{ id: doc.collection, name: doc.collection_name }, ...this.collections];
      move.append(...choices.map((c) => Object.assign(el("option", "", c.name), { value: c.id })));
      move.value = String(doc.collection);
      meta.append(move);
    } else if (doc.collection_name) {
      const collection = el("span", "document-collection", doc.collection_name);
      collection.title = "Collection";
      meta.append(collection);
    }
    const facts = [formatBytes(doc.size)];
    if (doc.status === "ready") facts.push(plural(doc.chunk_count ?? 0, "chunk"));
    if (doc.filename && doc.filename !== doc.title) facts.unshift(doc.filename);
    if (doc.uploaded_by) facts.push(`by ${doc.uploaded_by}`);
    meta.append(el("span", "", facts.filter(Boolean).join(" · ")));
    main.append(meta);
    const title = doc.title || doc.filename || "this document";
    if (unfinished(doc)) main.append(this.#progress(doc, title));
    if (doc.status === "failed" && doc.error) main.append(el("div", "document-error", doc.error));
    item.append(main);
    if (doc.has_original) {
      const download = el("a", "icon-button");
      download.href = api.originalUrl(doc.id);
      download.setAttribute("download", "");
      download.setAttribute("aria-label", `Download the original of “${title}”`);
      download.title = "Download original";
      download.append(icon("download"));
      item.append(download);
    }
    if (doc.can_retry) {
      const retry = el("button", "button button-small", "Retry");
      retry.type = "button";
      retry.dataset.retry = doc.id;
      retry.setAttribute("aria-label", `Retry “${title}”`);
      item.append(retry);
    }
    if (doc.can_delete) {
      const button = el("button", "icon-button");
      button.type = "button";
      button.dataset.delete = doc.id;
      button.dataset.title = title;
      button.dataset.unfinished = unfinished(doc) ? "1" : "";
      button.setAttribute("aria-label", unfinished(doc) ? `Cancel “${title}”` : `Delete “${title}”`);
      button.append(document.getElementById("trash-icon").content.cloneNode(true));
      item.append(button);
    }
    return item;
  }

  #progress(doc, title) {
    const box = el("div", "document-progress");
    const bar = el("progress", "upload-progress");
    bar.max = 1;
    const fraction = progressFraction(doc);
    if (fraction !== null) bar.value = fraction;
    bar.setAttribute("aria-label", `Processing of ${title}`);
    box.append(el("span", "document-stage", progressText(doc) || "Processing"), bar);
    return box;
  }

  // Files go up one after another: each shows its progress, then what became of it.
  upload(files) {
    for (const file of files) {
      const row = el("li", "upload");
      const name = el("span", "upload-name", file.name);
      const size = el("span", "upload-size", formatBytes(file.size));
      const progress = el("progress", "upload-progress");
      progress.max = 1;
      progress.value = 0;
      progress.setAttribute("aria-label", `Upload of ${file.name}`);
      const status = el("span", "upload-status", "Queued");
      row.append(name, size, progress, status);
      this.uploads.prepend(row);
      const collection = this.target.value;
      this.queue = this.queue.then(() => this.#send(file, row, progress, status, collection));
    }
  }

  async #send(file, row, progress, status, collection) {
    try {
      status.textContent = "Uploading…";
      const { status: code, body } = await api.uploadDocument(file, {
        fields: { collection },
        onProgress: (fraction) => (progress.value = fraction),
        onUploaded: () => {
          progress.removeAttribute("value"); // indeterminate: the server checks it and queues it
          status.textContent = "Checking…";
        },
      });
      const outcome = uploadOutcome(code, body);
      row.dataset.result = outcome.kind;
      status.textContent = outcome.text;
      status.className = `upload-status upload-${outcome.kind}`;
    } catch (error) {
      status.textContent = `Failed: ${error.message}`;
      status.className = "upload-status upload-error";
    } finally {
      progress.remove();
    }
    await this.load();
    this.onChange?.();
  }

  async remove(id, title, inProgress = false) {
    const confirmed = await confirmDialog(inProgress ? {
      title: "Cancel this document?",
      body: `“${title}” is still being processed: it will be stopped and removed.`,
      confirmLabel: "Cancel it",
    } : {
      title: "Delete this document?",
      body: `“${title}” will be removed from the knowledge base. Chats will no longer cite it.`,
    });
    if (!confirmed) return;
    try {
      await api.deleteDocument(id);
    } catch (error) {
      this.error.textContent = `Could not delete: ${error.message}`;
      this.error.hidden = false;
    }
    await this.load();
    this.onChange?.();
  }

  async move(id, collection) {
    try {
      await api.moveDocument(id, collection);
    } catch (error) {
      this.error.textContent = `Could not move: ${error.message}`;
      this.error.hidden = false;
    }
    await this.load();
    this.onChange?.();
  }

  async retry(id) {
    try {
      await api.retryDocument(id);
    } catch (error) {
      this.error.textContent = `Could not retry: ${error.message}`;
      this.error.hidden = false;
    }
    await this.load();
  }
}
