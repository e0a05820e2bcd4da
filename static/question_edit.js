// Editing a question in place: its text in a field that grows with it; Enter sends, Shift+Enter is a new
// line, Escape or Cancel puts the question back as it was.
import { el, textButton } from "./dom.js";

// `onSend(text, original)` runs once the question shows its new text; `onClose()` whenever the form goes.
export function editQuestion(question, { onSend, onClose }) {
  const body = question.querySelector(".message-body");
  const original = body.textContent;
  const form = el("form", "edit-form");
  const area = el("textarea");
  area.value = original;
  area.setAttribute("aria-label", "Edit your question");
  const cancel = textButton("Cancel", "button button-small button-ghost");
  const save = textButton("Save and send", "button button-small button-primary", "submit");
  const buttons = el("div", "edit-buttons");
  buttons.append(cancel, save);
  form.append(area, buttons);
  question.classList.add("editing");
  body.hidden = true;
  question.append(form);

  const fit = () => {
    area.style.height = "auto";
    area.style.height = `${area.scrollHeight}px`;
  };
  const close = () => {
    form.remove();
    body.hidden = false;
    question.classList.remove("editing");
    onClose();
  };
  area.addEventListener("input", fit);
  cancel.addEventListener("click", () => {
    close();
    question.querySelector(".turn-action")?.focus();
  });
  area.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    } else if (event.key === "Escape") {
      event.stopPropagation();
      cancel.click();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = area.value.trim();
    if (!text) return;
    close();
    body.textContent = text;
    onSend(text, original);
  });
  fit();
  area.focus();
  area.setSelectionRange(area.value.length, area.value.length);
}
