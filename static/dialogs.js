// Confirmation before anything is deleted, in the page's one <dialog id="confirm-dialog">.
// Escape or Cancel answers false; the dialog returns focus to whatever opened it.

export function confirmDialog({ title, body, confirmLabel = "Delete" }) {
  const dialog = document.getElementById("confirm-dialog");
  dialog.querySelector("#confirm-title").textContent = title;
  dialog.querySelector("#confirm-body").textContent = body;
  dialog.querySelector("#confirm-ok").textContent = confirmLabel;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}
