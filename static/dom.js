// Building page elements safely: text goes in as textContent, never as markup.

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// A plain text button (type "button" unless told otherwise).
export function textButton(label, className, type = "button") {
  const button = el("button", className, label);
  button.type = type;
  return button;
}
