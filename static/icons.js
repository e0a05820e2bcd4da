// Line icons drawn as SVG nodes (never from markup strings), in the stroke style of the page's own icons.

const PATHS = {
  copy: "M9 9h11v11H9zM5 15V4h11",
  check: "M5 12l5 5L20 7",
  up: "M7 11v9H4v-9zM7 11l4-7c1.5 0 3 1 2.6 3L13 10h5.5a2 2 0 0 1 2 2.4l-1.4 6A2 2 0 0 1 17.1 20H7",
  down: "M7 13V4H4v9zM7 13l4 7c1.5 0 3-1 2.6-3L13 14h5.5a2 2 0 0 0 2-2.4l-1.4-6A2 2 0 0 0 17.1 4H7",
  regenerate: "M20 12a8 8 0 1 1-2.4-5.7M20 4v5h-5",
  edit: "M4 20h4L19 9l-4-4L4 16zM13.5 6.5l4 4",
  stop: "M7 7h10v10H7z",
  download: "M12 4v11M7 10l5 5 5-5M5 20h14",
};

export function icon(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", PATHS[name]);
  svg.append(path);
  return svg;
}

// An icon button whose name is read by screen readers and shown as a tooltip.
export function iconButton(name, label, className = "") {
  const button = document.createElement("button");
  button.type = "button";
  button.className = `icon-button ${className}`.trim();
  button.setAttribute("aria-label", label);
  button.title = label;
  button.append(icon(name));
  return button;
}
