// The conversation pane: a session's history, the streamed answer and its sources; stop it, retry or
// regenerate the last answer, edit the last question. Copy and rating live in answer_actions.js.
import { api } from "./api.js";
import { answerActions } from "./answer_actions.js";
import { el, textButton } from "./dom.js";
import { iconButton } from "./icons.js";
import { renderMarkdown } from "./markdown.js";
import { editQuestion } from "./question_edit.js";
import { postStream } from "./sse.js";

// After asking the server to stop, how long its stream may take to end (it ends at the model's next token)
// before the page drops it: a stalled model must not keep the page waiting.
const STOP_GRACE_MS = 3000;

let keys = 0; // ids for source anchors of messages that have no id yet

export class Conversation {
  constructor({ scroller, thread, status, onBusy, onStopping, onTurnDone, onOpenKnowledgeBase, onOpenSource }) {
    Object.assign(this, { scroller, thread, status, onBusy, onStopping, onTurnDone, onOpenKnowledgeBase,
      onOpenSource });
    this.sessionId = null;
    this.busy = false;
    this.stream = null; // {sessionId, controller, stopping, timer} while an answer streams
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
    this.#markLastTurn();
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
      const button = textButton("upload one to the knowledge base", "link-button");
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

  // (Re)draws an assistant message: text with [n] linked to its sources, the sources, then its actions
  // (copy, rate), the model and, if the user stopped it, that it was stopped.
  #fill(article, message) {
    article.dataset.key = message.id ? `m${message.id}` : `k${++keys}`;
    if (message.id) article.dataset.id = message.id;
    article.dataset.status = message.status || "";
    const column = article.querySelector(".message-column");
    column.querySelectorAll(".sources, .message-footer, .message-error, .feedback-form")
      .forEach((node) => node.remove());
    const sources = Array.isArray(message.sources) ? message.sources : [];
    this.#renderBody(article, message.content, sources);
    if (sources.length) column.append(this.#sources(article.dataset.key, sources));
    if (!message.content && message.status !== "stopped") return; // nothing to act on yet
    const footer = el("div", "message-footer");
    const announce = (text) => (this.status.textContent = text);
    if (message.content) footer.append(answerActions(message, { announce }));
    const meta = el("div", "message-meta");
    if (message.status === "stopped") meta.append(el("span", "stopped-badge", "Stopped"));
    if (message.model) meta.append(el("span", "", message.model));
    if (meta.childElementCount) footer.append(meta);
    column.append(footer);
  }

  #renderBody(article, text, sources = []) {
    const key = article.dataset.key;
    const byNumber = new Map(sources.map((s) => [Number(s.n), s]));
    const cite = (n) => {
      if (!byNumber.has(n)) return null;
      const a = el("a", "cite", `[${n}]`);
      a.href = `#src-${key}-${n}`;
      a.setAttribute("aria-label", `Source ${n}: open ${byNumber.get(n).document_title || "the document"} at the passage`);
      a.addEventListener("click", (event) => {
        event.preventDefault();
        // [n] opens the document at the cited passage; a source without its document shows its snippet.
        if (this.#openSource(byNumber.get(n))) return;
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
      if (source.document_id && source.chunk_id) {
        const open = el("button", "link-button source-open", "Open in document");
        open.type = "button";
        open.addEventListener("click", () => this.#openSource(source));
        details.append(open);
      }
      item.append(details);
      list.append(item);
    }
    section.append(list);
    return section;
  }

  #openSource(source) {
    if (!source || !source.document_id || !this.onOpenSource) return false;
    this.onOpenSource({ documentId: source.document_id, chunkId: source.chunk_id, title: source.document_title });
    return true;
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
    const retry = textButton("Retry", "button button-small button-secondary");
    retry.disabled = this.busy;
    retry.addEventListener("click", () => this.retry(article));
    box.append(retry);
    article.querySelector(".message-column").append(box);
  }

  // Regenerate goes on the last answer and Edit on the last question: the API changes only the last turn.
  #markLastTurn() {
    this.thread.querySelectorAll(".turn-action, .message-user-actions").forEach((node) => node.remove());
    if (this.busy) return;
    const answers = this.thread.querySelectorAll(".message-assistant");
    const answer = answers[answers.length - 1];
    const footer = answer?.querySelector(".message-footer");
    if (footer && answer.dataset.status !== "failed") {
      let bar = footer.querySelector(".message-actions");
      if (!bar) footer.prepend((bar = el("div", "message-actions"))); // stopped before any text
      const regenerate = iconButton("regenerate", "Regenerate answer", "turn-action");
      regenerate.addEventListener("click", () => this.retry(answer));
      bar.append(regenerate);
    }
    const questions = this.thread.querySelectorAll(".message-user");
    const question = questions[questions.length - 1];
    if (question?.dataset.id && !question.classList.contains("editing")) {
      const actions = el("div", "message-user-actions");
      const edit = iconButton("edit", "Edit question", "turn-action");
      edit.addEventListener("click", () => this.edit(question));
      actions.append(edit);
      question.append(actions);
    }
  }

  #setBusy(busy) {
    this.busy = busy;
    this.thread.querySelectorAll(".message-error button").forEach((b) => (b.disabled = busy));
    if (busy) this.#markLastTurn();
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
    const refused = await this.#stream(sessionId, { message: text, stream: true }, user, answer);
    if (refused?.status === 400) user.remove(); // never saved: the composer keeps nothing to retry
  }

  // Answers the last question again: a failed answer (Retry) or a complete or stopped one (Regenerate).
  async retry(article) {
    if (this.busy || !this.sessionId) return;
    this.#clear(article);
    const user = article.previousElementSibling?.classList.contains("message-user") ? article.previousElementSibling : null;
    await this.#stream(this.sessionId, { retry: true, stream: true }, user, article);
  }

  // The last question becomes a form; sending it rewords the question and replaces its answer.
  edit(question) {
    if (this.busy || !this.sessionId) return;
    question.querySelector(".message-user-actions")?.remove();
    editQuestion(question, {
      onClose: () => this.#markLastTurn(),
      onSend: async (text, original) => {
        if (this.busy) return;
        let answer = question.nextElementSibling;
        if (!answer?.classList.contains("message-assistant")) {
          answer = this.#assistantMessage({ role: "assistant", content: "", sources: [] });
          question.after(answer);
        }
        this.#clear(answer);
        const payload = { message: text, edit: Number(question.dataset.id), stream: true };
        const refused = await this.#stream(this.sessionId, payload, question, answer);
        if (refused) question.querySelector(".message-body").textContent = original; // the server kept it
      },
    });
  }

  // Asks the server to end the streaming answer (in whichever process streams it); the stream then ends
  // with the stopped answer. Should it not end soon, the page drops it and keeps the text it has.
  async stop() {
    const stream = this.stream;
    if (!stream || stream.stopping) return;
    stream.stopping = true;
    this.onStopping(true);
    this.status.textContent = "Stopping…";
    try {
      await api.stopAnswer(stream.sessionId);
      stream.timer = setTimeout(() => stream.controller.abort(), STOP_GRACE_MS);
    } catch {
      stream.controller.abort();
    }
  }

  #clear(article) {
    delete article.dataset.placeholder;
    const column = article.querySelector(".message-column");
    column.querySelectorAll(".sources, .message-footer, .message-error, .feedback-form")
      .forEach((node) => node.remove());
    article.querySelector(".message-body").replaceChildren();
  }

  // Streams an answer into `article`. Returns the ApiError if the server refused the request before any
  // answer began (nothing changed on the server), else nothing.
  async #stream(sessionId, payload, user, article) {
    const stream = { sessionId, controller: new AbortController(), stopping: false, timer: 0 };
    this.stream = stream;
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
    const stoppedHere = () => {
      // Dropped after a stop before the server's answer came: the server saves the same text as stopped.
      this.#fill(article, { role: "assistant", content: text, status: "stopped", sources: [] });
      this.status.textContent = "Answer stopped.";
    };
    let finished = false;
    let refused;
    try {
      const url = `/api/sessions/${sessionId}/chat`;
      for await (const { event, data } of postStream(url, payload, { signal: stream.controller.signal })) {
        if (event === "token") {
          text += (data && data.delta) || "";
          if (!frame) frame = requestAnimationFrame(draw);
        } else if (event === "done") {
          finished = true;
          cancelAnimationFrame(frame);
          if (user && data.user_message) user.dataset.id = data.user_message.id;
          const message = data.assistant_message || { content: text, sources: [] };
          this.#fill(article, message);
          this.status.textContent = message.status === "stopped" ? "Answer stopped." : "Answer ready.";
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
        if (stream.stopping) stoppedHere();
        else {
          this.#renderBody(article, text);
          this.#showError(article, "The answer was interrupted before it finished.");
        }
      }
    } catch (error) {
      cancelAnimationFrame(frame);
      if (stream.stopping) stoppedHere();
      else {
        this.#renderBody(article, text);
        this.#showError(article, error.message);
        if (error.status >= 400 && error.status < 500) refused = error;
      }
    } finally {
      clearTimeout(stream.timer);
      this.stream = null;
      article.classList.remove("streaming");
      if (stream.stopping) this.onStopping(false);
      this.#setBusy(false);
      this.#markLastTurn();
      this.scrollToEnd();
    }
    return refused;
  }
}
