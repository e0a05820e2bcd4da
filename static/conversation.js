// The conversation pane: a session's history, the streamed answer, its sources, errors and retry.
import { api } from "./api.js";
import { renderMarkdown } from "./markdown.js";
import { postStream } from "./sse.js";

let keys = 0; // ids for source anchors of messages that have no id yet

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class Conversation {
  constructor({ scroller, thread, status, onBusy, onTurnDone, onOpenKnowledgeBase }) {
    Object.assign(this, { scroller, thread, status, onBusy, onTurnDone, onOpenKnowledgeBase });
    this.sessionId = null;
    this.busy = false;
    this.view = 0; // bumped on every switch, so a late history response cannot land in another chat
  }

  async show(sessionId) {
    const view = ++this.view;
    this.sessionId = sessionId;
    this.thread.replaceChildren(el("p", "loading", "Loading…"));
    let messages;
    try {
      messages = await api.messages(sessionId);
    } catch (error) {
      if (view !== this.view) return;
      if (error.status === 404) this.#notFound();
      else this.thread.replaceChildren(el("p", "thread-error", `This chat could not be loaded: ${error.message}`));
      return false;
    }
    if (view !== this.view) return;
    this.thread.replaceChildren();
    if (!messages.length) this.#welcome();
    messages.forEach((message, index) => {
      const article = message.role === "user" ? this.#userMessage(message) : this.#assistantMessage(message);
      this.thread.append(article);
      if (message.role === "assistant" && message.status === "failed") {
        // Only the last answer can be retried (the API re-answers the last question).
        this.#showError(article, message.error || "The answer failed.", index === messages.length - 1);
      }
    });
    const last = messages[messages.length - 1];
    if (last && last.role === "user" && !this.busy) {
      // Asked, never answered (the connection dropped before a reply was saved): offer to answer it.
      const article = this.#assistantMessage({ role: "assistant", content: "", sources: [] });
      article.dataset.placeholder = "true";
      this.thread.append(article);
      this.#showError(article, "This question has no answer yet.");
    }
    this.scrollToEnd(true);
    return true;
  }

  showNew() {
    this.view += 1;
    this.sessionId = null;
    this.thread.replaceChildren();
    this.#welcome();
  }

  #welcome() {
    const box = el("div", "empty-state");
    box.append(el("h2", "", "Ask your documents anything"));
    box.append(el("p", "muted", "Answers come from the knowledge base, with numbered sources you can open."));
    const hint = el("p", "empty-state-kb");
    box.append(hint);
    this.thread.append(box);
    api.documents().then((documents) => {
      if (documents.some((d) => d.status === "ready")) return;
      hint.append("No documents yet: ");
      const button = el("button", "link-button", "upload one to the knowledge base");
      button.type = "button";
      button.addEventListener("click", () => this.onOpenKnowledgeBase());
      hint.append(button, " first.");
    }).catch(() => {});
  }

  #notFound() {
    const box = el("div", "empty-state");
    box.append(el("h2", "", "Chat not found"));
    box.append(el("p", "muted", "It may have been deleted. Pick another chat, or start a new one."));
    this.thread.replaceChildren(box);
  }

  nearEnd() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  scrollToEnd(force = false) {
    if (force || this.nearEnd()) this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  #userMessage(message) {
    const article = el("article", "message message-user");
    if (message.id) article.dataset.id = message.id;
    article.append(el("div", "message-body", message.content)); // what the user typed, as typed
    return article;
  }

  #assistantMessage(message) {
    const article = el("article", "message message-assistant");
    article.append(el("div", "message-avatar", "rc"));
    const column = el("div", "message-column");
    column.append(el("div", "message-body markdown"));
    article.append(column);
    this.#fill(article, message);
    return article;
  }

  // (Re)draws an assistant message: text with [n] linked to its sources, the sources, the model.
  #fill(article, message) {
    article.dataset.key = message.id ? `m${message.id}` : `k${++keys}`;
    if (message.id) article.dataset.id = message.id;
    article.dataset.status = message.status || "";
    const column = article.querySelector(".message-column");
    column.querySelectorAll(".sources, .message-meta, .message-error").forEach((node) => node.remove());
    const sources = Array.isArray(message.sources) ? message.sources : [];
    this.#renderBody(article, message.content, sources);
    if (sources.length) column.append(this.#sources(article.dataset.key, sources));
    if (message.model) column.append(el("div", "message-meta", message.model));
  }

  #renderBody(article, text, sources = []) {
    const key = article.dataset.key;
    const numbers = new Set(sources.map((s) => Number(s.n)));
    const cite = (n) => {
      if (!numbers.has(n)) return null;
      const a = el("a", "cite", `[${n}]`);
      a.href = `#src-${key}-${n}`;
      a.addEventListener("click", (event) => {
        event.preventDefault();
        const details = article.querySelector(`#src-${key}-${n} details`);
        if (!details) return;
        details.open = true;
        details.querySelector("summary").focus();
        details.scrollIntoView({ block: "nearest" });
      });
      return a;
    };
    article.querySelector(".message-body").replaceChildren(renderMarkdown(text, { cite }));
  }

  #sources(key, sources) {
    const section = el("section", "sources");
    section.append(el("h3", "sources-title", "Sources"));
    const list = el("ol", "source-list");
    for (const source of sources) {
      const item = el("li", "source");
      item.id = `src-${key}-${source.n}`;
      const details = el("details");
      const summary = el("summary");
      summary.append(el("span", "source-n", String(source.n)));
      summary.append(el("span", "source-title", source.document_title || "Untitled document"));
      if (source.page) summary.append(el("span", "source-page", `p. ${source.page}`));
      // A glimpse of the passage tells apart several sources from one document.
      summary.append(el("span", "source-preview", (source.snippet || "").replace(/\s+/g, " ").slice(0, 160)));
      details.append(summary, el("blockquote", "snippet", source.snippet || ""));
      item.append(details);
      list.append(item);
    }
    section.append(list);
    return section;
  }

  #showError(article, detail, retryable = true) {
    article.dataset.status = "failed";
    if (this.busy) this.status.textContent = `The answer failed: ${detail}`;
    const box = el("div", "message-error");
    box.setAttribute("role", "alert");
    box.append(el("span", "", detail));
    if (!retryable) {
      article.querySelector(".message-column").append(box);
      return;
    }
    const retry = el("button", "button button-small button-secondary", "Retry");
    retry.type = "button";
    retry.disabled = this.busy;
    retry.addEventListener("click", () => this.retry(article));
    box.append(retry);
    article.querySelector(".message-column").append(box);
  }

  #setBusy(busy) {
    this.busy = busy;
    this.thread.querySelectorAll(".message-error button").forEach((b) => (b.disabled = busy));
    this.onBusy(busy);
  }

  // Sends a new message in session `sessionId` (the caller has created it if needed).
  async send(sessionId, text) {
    if (this.busy) return;
    this.thread.querySelector(".empty-state")?.remove();
    // A new question supersedes the last one: its failed answer can no longer be retried.
    this.thread.querySelector('.message-assistant[data-placeholder="true"]')?.remove();
    this.thread.querySelectorAll(".message-error button").forEach((button) => button.remove());
    const user = this.#userMessage({ content: text });
    this.thread.append(user);
    const answer = this.#assistantMessage({ role: "assistant", content: "", sources: [] });
    this.thread.append(answer);
    this.scrollToEnd(true);
    await this.#stream(sessionId, { message: text, stream: true }, user, answer);
  }

  async retry(article) {
    if (this.busy || !this.sessionId) return;
    const column = article.querySelector(".message-column");
    column.querySelectorAll(".sources, .message-meta, .message-error").forEach((node) => node.remove());
    article.querySelector(".message-body").replaceChildren();
    const user = article.previousElementSibling?.classList.contains("message-user") ? article.previousElementSibling : null;
    await this.#stream(this.sessionId, { retry: true, stream: true }, user, article);
  }

  async #stream(sessionId, payload, user, article) {
    this.#setBusy(true);
    this.status.textContent = "Answering…"; // read by screen readers; the tokens themselves are not
    article.classList.add("streaming");
    let text = "";
    let frame = 0;
    const draw = () => {
      frame = 0;
      this.#renderBody(article, text);
      this.scrollToEnd();
    };
    let finished = false;
    try {
      for await (const { event, data } of postStream(`/api/sessions/${sessionId}/chat`, payload)) {
        if (event === "token") {
          text += (data && data.delta) || "";
          if (!frame) frame = requestAnimationFrame(draw);
        } else if (event === "done") {
          finished = true;
          cancelAnimationFrame(frame);
          if (user && data.user_message) user.dataset.id = data.user_message.id;
          const message = data.assistant_message || { content: text, sources: [] };
          this.#fill(article, message);
          this.status.textContent = "Answer ready.";
          if (message.status === "failed") this.#showError(article, message.error || "The answer failed.");
          this.onTurnDone(sessionId);
        } else if (event === "error") {
          finished = true;
          cancelAnimationFrame(frame);
          this.#renderBody(article, text);
          this.#showError(article, (data && data.detail) || "The answer failed.");
          this.onTurnDone(sessionId);
        }
      }
      if (!finished) {
        cancelAnimationFrame(frame);
        this.#renderBody(article, text);
        this.#showError(article, "The answer was interrupted before it finished.");
      }
    } catch (error) {
      cancelAnimationFrame(frame);
      this.#renderBody(article, text);
      this.#showError(article, error.message);
      if (error.status === 400 && payload.message !== undefined) user?.remove();
    } finally {
      article.classList.remove("streaming");
      this.#setBusy(false);
      this.scrollToEnd();
    }
  }
}
