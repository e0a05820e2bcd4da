// A menu button (WAI-ARIA "menu button" pattern): opens a list of actions; arrows move, Escape closes.

export class Menu {
  constructor(button, list, { onOpen = () => {} } = {}) {
    Object.assign(this, { button, list, onOpen });
    button.addEventListener("click", () => (list.hidden ? this.open() : this.close()));
    button.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        this.open(event.key === "ArrowUp" ? -1 : 0);
      }
    });
    list.addEventListener("keydown", (event) => this.#key(event));
    list.addEventListener("click", (event) => {
      if (event.target.closest('[role="menuitem"]')) this.close({ focus: false });
    });
    document.addEventListener("pointerdown", (event) => {
      if (!list.hidden && !list.contains(event.target) && !button.contains(event.target)) this.close({ focus: false });
    });
  }

  items() {
    return [...this.list.querySelectorAll('[role="menuitem"]')].filter((item) => !item.hidden);
  }

  open(index = 0) {
    this.onOpen();
    this.list.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    this.items().at(index)?.focus();
  }

  close({ focus = true } = {}) {
    if (this.list.hidden) return;
    this.list.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    if (focus) this.button.focus();
  }

  #key(event) {
    const items = this.items();
    const at = items.indexOf(document.activeElement);
    const moves = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: items.length - 1 };
    if (event.key in moves) {
      event.preventDefault();
      items.at(moves[event.key] % items.length)?.focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      this.close();
    } else if (event.key === "Tab") {
      this.close({ focus: false });
    }
  }
}
