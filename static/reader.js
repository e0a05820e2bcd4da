// The reader: a document's extracted text opened at a cited passage, highlighted and scrolled into view, with its
// page (PDFs) and a link to download the original file. The text comes in windows (GET /api/documents/{id}/text)
// that tile it exactly, so earlier and later text is prepended or appended as the reader asks for it.
import { api } from "./api.js";
import { el } from "./dom.js";

export class Reader {
  constructor({ dialog }) {
    this.dialog = dialog;
    const $ = (id) => dialog.querySelector(`#${id}`);
    Object.assign(this, {
      title: $("reader-title"), meta: $("reader-meta"), download: $("reader-download"), error: $("reader-error"),
      text: $("reader-text"), previousButton: $("reader-previous"), nextButton: $("reader-next"),
    });
    this.view = 0; // bumped on every open, so a late response cannot land in another document
    dialog.querySelector("[data-close]").addEventListener("click", () => dialog.close());
    this.previousButton.addEventListener("click", () => this.#more("previous"));
    this.nextButton.addEventListener("click", () => this.#more("next"));
  }

  // Opens document `documentId` at chunk `chunkId` (a citation); `title` shows while it loads.
  async open({ documentId, chunkId, title = "" }) {
    const view = ++this.view;
    this.title.textContent = title || "Document";
    this.meta.textContent = "Loading…";
    this.download.hidden = true;
    this.error.hidden = true;
    this.text.replaceChildren();
    this.previousButton.hidden = this.nextButton.hidden = true;
    if (!this.dialog.open) this.dialog.showModal();
    let window_;
    try {
      window_ = await api.documentText(documentId, { chunk: chunkId });
    } catch (error) {
      if (view !== this.view) return;
      if (error.status === 404 && chunkId && /passage/i.test(error.message)) {
        // The document was re-chunked since the answer: its start, with a note, rather than nothing.
        return this.#openAtStart(view, documentId, "The cited passage is no longer in this document.");
      }
      return this.#fail(error.status === 404 ? "This document is not available (it may have been deleted)."
        : `The document could not be opened: ${error.message}`);
    }
    if (view !== this.view) return;
    this.#show(window_);
  }

  async #openAtStart(view, documentId, note) {
    try {
      const window_ = await api.documentText(documentId, {});
      if (view !== this.view) return;
      this.#show(window_);
      this.error.textContent = note;
      this.error.hidden = false;
    } catch (error) {
      if (view === this.view) this.#fail(`The document could not be opened: ${error.message}`);
    }
  }

  #fail(message) {
    this.meta.textContent = "";
    this.error.textContent = message;
    this.error.hidden = false;
  }

  #show(window_) {
    const { document: doc, chunk } = window_;
    this.documentId = doc.id;
    this.title.textContent = doc.title || doc.filename || "Untitled document";
    const meta = [doc.filename, chunk && chunk.page ? `Page ${chunk.page} of ${doc.page_count || "?"}` : ""];
    this.meta.textContent = meta.filter(Boolean).join(" · ");
    this.download.hidden = !doc.has_original;
    this.download.href = doc.has_original ? api.originalUrl(doc.id) : "";
    this.cited = chunk;
    this.text.replaceChildren(this.#render(window_));
    this.#links(window_);
    const mark = this.text.querySelector(".reader-highlight");
    if (mark) {
      mark.scrollIntoView({ block: "center" });
      mark.focus({ preventScroll: true });
    } else {
      this.text.scrollIntoView({ block: "start" });
    }
  }

  #links(window_) {
    this.previous = window_.previous;
    this.next = window_.next;
    this.previousButton.hidden = !this.previous;
    this.nextButton.hidden = !this.next;
  }

  async #more(which) {
    const url = this[which];
    if (!url) return;
    const view = this.view;
    const button = which === "previous" ? this.previousButton : this.nextButton;
    button.disabled = true;
    try {
      const window_ = await api.page(url);
      if (view !== this.view) return;
      const part = this.#render(window_);
      if (which === "previous") {
        // Keep the text in view where it was while earlier text appears above it.
        const scroller = this.dialog;
        const before = scroller.scrollHeight - scroller.scrollTop;
        this.text.prepend(part);
        scroller.scrollTop = scroller.scrollHeight - before;
        this.previous = window_.previous;
        this.previousButton.hidden = !this.previous;
      } else {
        this.text.append(part);
        this.next = window_.next;
        this.nextButton.hidden = !this.next;
      }
    } catch (error) {
      if (view === this.view) this.#fail(`More text could not be loaded: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }

  // The window's text as nodes: a "Page n" marker where each page starts, the cited chunk in a <mark>.
  #render({ text, start_char: start, end_char: end, pages }) {
    const cuts = new Map(); // offset in the window -> what begins there
    for (const page of pages || []) {
      const at = Math.max(page.start_char, start) - start;
      if (page.start_char >= start || at === 0) cuts.set(at, { ...(cuts.get(at) || {}), page: page.page });
    }
    const cited = this.cited;
    if (cited && cited.end_char > start && cited.start_char < end) {
      const from = Math.max(cited.start_char, start) - start;
      const to = Math.min(cited.end_char, end) - start;
      cuts.set(from, { ...(cuts.get(from) || {}), open: true });
      cuts.set(to, { ...(cuts.get(to) || {}), close: true });
    }
    const part = document.createDocumentFragment();
    const offsets = [...new Set([...cuts.keys(), 0])].filter((at) => at <= text.length).sort((a, b) => a - b);
    let mark = null;
    for (let i = 0; i < offsets.length; i++) {
      const at = offsets[i];
      const cut = cuts.get(at);
      if (cut && cut.close) mark = null;
      if (cut && cut.page) (mark || part).append(el("span", "reader-page", `Page ${cut.page}`));
      if (cut && cut.open) {
        mark = el("mark", "reader-highlight");
        mark.tabIndex = -1;
        mark.setAttribute("aria-label", "Cited passage");
        part.append(mark);
      }
      const until = i + 1 < offsets.length ? offsets[i + 1] : text.length;
      let piece = text.slice(at, until);
      // A page marker is its own line: the blank lines around it would only add space.
      if (cut && cut.page) piece = piece.replace(/^\n+/, "");
      if (cuts.get(until)?.page) piece = piece.replace(/\n+$/, "");
      if (piece) (mark || part).append(document.createTextNode(piece));
    }
    return part;
  }
}
