// What a reader does with an answer: copy it, and rate it up or down with an optional comment.
import { api } from "./api.js";
import { el, textButton } from "./dom.js";
import { icon, iconButton } from "./icons.js";

const CONFIRM_MS = 2000; // how long "Copied" shows

// The answer's Markdown, then its numbered sources, so the [n] markers still mean something once pasted.
export function copyText(message) {
  const sources = (message.sources || []).map((s) =>
    `[${s.n}] ${s.document_title || "Untitled document"}${s.page ? `, p. ${s.page}` : ""}`);
  return sources.length ? `${message.content}\n\nSources:\n${sources.join("\n")}` : message.content;
}

export async function writeClipboard(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain http on another host than localhost has no clipboard API: the older way still works there.
  const area = el("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  const copied = document.execCommand("copy");
  area.remove();
  if (!copied) throw new Error("The browser refused to copy.");
}

// A failed action says so beside its buttons, until the next attempt.
function showError(row, text) {
  row.querySelector(".action-error")?.remove();
  const error = el("span", "action-error", text);
  error.setAttribute("role", "alert");
  row.append(error);
}

// The row of actions under an answer. `announce(text)` speaks to screen readers (the page's live region).
export function answerActions(message, { announce, extra = [] }) {
  const bar = el("div", "message-actions");
  const copy = iconButton("copy", "Copy answer");
  copy.addEventListener("click", async () => {
    try {
      await writeClipboard(copyText(message));
    } catch (error) {
      showError(bar, `Could not copy: ${error.message}`);
      return;
    }
    copy.replaceChildren(icon("check"), el("span", "action-label", "Copied"));
    copy.classList.add("done");
    announce("Answer copied.");
    setTimeout(() => {
      copy.replaceChildren(icon("copy"));
      copy.classList.remove("done");
    }, CONFIRM_MS);
  });
  bar.append(copy);
  if (message.id && message.status !== "failed") bar.append(...new Rating(message, bar, announce).buttons);
  bar.append(...extra);
  return bar;
}

class Rating {
  constructor(message, bar, announce) {
    Object.assign(this, { message, bar, announce });
    this.rating = message.feedback ? message.feedback.rating : null;
    this.up = iconButton("up", "Good answer", "rate");
    this.down = iconButton("down", "Bad answer", "rate");
    this.up.addEventListener("click", () => this.#choose("up"));
    this.down.addEventListener("click", () => this.#choose("down"));
    this.buttons = [this.up, this.down];
    this.#show();
  }

  #show() {
    this.up.setAttribute("aria-pressed", String(this.rating === "up"));
    this.down.setAttribute("aria-pressed", String(this.rating === "down"));
  }

  async #choose(rating) {
    const previous = this.rating;
    this.rating = previous === rating ? null : rating; // the same thumb again takes the rating back
    this.#show();
    this.form?.remove();
    this.bar.querySelector(".action-error")?.remove();
    try {
      if (this.rating) await api.rate(this.message.id, this.rating);
      else await api.unrate(this.message.id);
    } catch (error) {
      this.rating = previous;
      this.#show();
      showError(this.bar, `Your rating was not saved: ${error.message}`);
      return;
    }
    if (this.rating) this.#askComment();
    else this.announce("Rating removed.");
  }

  // After a thumb, an optional comment: saved with the rating when sent.
  #askComment() {
    const form = el("form", "feedback-form");
    const id = `feedback-${this.message.id}`;
    const label = el("label", "", this.rating === "up" ? "Thanks! What was good? (optional)"
      : "Thanks! What was wrong? (optional)");
    label.htmlFor = id;
    const text = el("textarea");
    text.id = id;
    text.rows = 2;
    text.maxLength = 2000;
    const send = textButton("Send feedback", "button button-small button-primary", "submit");
    const close = textButton("Close", "button button-small button-ghost");
    const row = el("div", "feedback-buttons");
    row.append(close, send);
    form.append(label, text, row);
    const dismiss = () => {
      form.remove();
      (this.rating === "down" ? this.down : this.up).focus();
    };
    close.addEventListener("click", dismiss);
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        dismiss();
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      send.disabled = true;
      try {
        await api.rate(this.message.id, this.rating, text.value.trim());
      } catch (error) {
        send.disabled = false;
        showError(row, `Your comment was not saved: ${error.message}`);
        return;
      }
      form.replaceChildren(el("p", "feedback-thanks", "Thanks for your feedback."));
      this.announce("Feedback sent.");
      setTimeout(() => form.remove(), CONFIRM_MS);
    });
    this.form = form;
    this.bar.after(form);
    this.announce("Rating saved.");
    text.focus();
  }
}
