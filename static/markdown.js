// A small, safe Markdown renderer for answers. It only ever creates DOM nodes and sets textContent:
// HTML in the text stays text, links must be http(s), and images are never loaded (shown as text).
//
// Blocks: paragraphs, headings, lists (ordered/unordered), block quotes, fenced code, rules.
// Inline: `code`, **bold**, *italic* / _italic_, [text](https://...), bare URLs, and [n] citations.

const INLINE = new RegExp(
  [
    "(?<ticks>`+)(?<code>[^`]|[^`][\\s\\S]*?[^`])\\k<ticks>(?!`)", // `code`, ``co`de``, ```code```
    "\\*\\*(?=\\S)(?<bold>[\\s\\S]+?)\\*\\*",
    "(?<![\\w])__(?=\\S)(?<bold2>[\\s\\S]+?)__(?![\\w])",
    "\\*(?=[^\\s*])(?<em>[^*\\n]+?)\\*",
    "(?<![\\w])_(?=[^\\s_])(?<em2>[^_\\n]+?)_(?![\\w])",
    "(?<image>!?)\\[(?<label>[^\\]\\n]+)\\]\\((?<href>[^)\\s]+)\\)", // an image is shown as its text only
    "\\[(?<cite>\\d{1,3})\\]",
    "(?<url>https?://[^\\s<>()\\[\\]`]*[^\\s<>()\\[\\].,;:!?'\"`])",
  ].join("|"),
  "g",
);

export function safeHref(url) {
  try {
    const parsed = new URL(url, "http://invalid.invalid");
    if ((parsed.protocol === "http:" || parsed.protocol === "https:") && /^https?:\/\//i.test(url)) {
      return parsed.href;
    }
  } catch {
    /* not a URL: shown as text */
  }
  return null;
}

function el(tag, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}

function link(text, href) {
  const a = el("a");
  a.href = href;
  a.target = "_blank";
  a.rel = "noopener noreferrer nofollow";
  a.textContent = text;
  return a;
}

// `cite(n)` returns a node for a citation marker, or null to keep "[n]" as text.
export function renderInline(text, parent, cite) {
  const pattern = new RegExp(INLINE); // its own lastIndex: this function recurses
  let last = 0;
  for (let m; (m = pattern.exec(text)); ) {
    if (m.index > last) parent.append(text.slice(last, m.index));
    last = pattern.lastIndex;
    const g = m.groups;
    if (g.code !== undefined) {
      const code = el("code");
      code.textContent = g.code.trim() || g.code;
      parent.append(code);
    } else if (g.bold !== undefined || g.bold2 !== undefined) {
      const strong = el("strong");
      renderInline(g.bold ?? g.bold2, strong, cite);
      parent.append(strong);
    } else if (g.em !== undefined || g.em2 !== undefined) {
      const em = el("em");
      renderInline(g.em ?? g.em2, em, cite);
      parent.append(em);
    } else if (g.label !== undefined) {
      const href = g.image ? null : safeHref(g.href);
      parent.append(href ? link(g.label, href) : m[0]);
    } else if (g.cite !== undefined) {
      parent.append((cite && cite(Number(g.cite))) || m[0]);
    } else if (g.url !== undefined) {
      const href = safeHref(g.url);
      parent.append(href ? link(g.url, href) : g.url);
    }
  }
  if (last < text.length) parent.append(text.slice(last));
}

const FENCE = /^\s{0,3}(`{3,}|~{3,})\s*([\w+#.-]*)/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || ITEM.test(line) || QUOTE.test(line);
}

function renderBlocks(lines, parent, cite) {
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
      continue;
    }
    let m;
    if ((m = line.match(FENCE))) {
      // An unclosed fence (an answer still streaming) runs to the end.
      const marker = m[1];
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(marker)) body.push(lines[i++]);
      i += 1;
      const pre = el("pre");
      const code = el("code");
      if (m[2]) code.dataset.lang = m[2];
      code.textContent = body.join("\n");
      pre.append(code);
      parent.append(pre);
    } else if ((m = line.match(HEADING))) {
      const heading = el(`h${Math.min(m[1].length + 2, 6)}`);
      renderInline(m[2], heading, cite);
      parent.append(heading);
      i += 1;
    } else if (RULE.test(line)) {
      parent.append(el("hr"));
      i += 1;
    } else if (QUOTE.test(line)) {
      const quoted = [];
      while (i < lines.length && (m = lines[i].match(QUOTE))) {
        quoted.push(m[1]);
        i += 1;
      }
      const blockquote = el("blockquote");
      renderBlocks(quoted, blockquote, cite);
      parent.append(blockquote);
    } else if ((m = line.match(ITEM))) {
      i = renderList(lines, i, parent, cite);
    } else {
      const paragraph = [];
      while (i < lines.length && lines[i].trim() && !(paragraph.length && startsBlock(lines[i]))) {
        paragraph.push(lines[i].trim());
        i += 1;
      }
      const p = el("p");
      paragraph.forEach((text, index) => {
        if (index) p.append(el("br"));
        renderInline(text, p, cite);
      });
      parent.append(p);
    }
  }
}

// A list runs while lines are items of the same kind, or indented continuation lines of an item.
// Deeper-indented items become a nested list.
function renderList(lines, start, parent, cite) {
  const first = lines[start].match(ITEM);
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const list = el(ordered ? "ol" : "ul");
  if (ordered && parseInt(first[2], 10) !== 1) list.start = parseInt(first[2], 10);
  let i = start;
  let item = null;
  while (i < lines.length) {
    const line = lines[i];
    const m = line.match(ITEM);
    if (m && m[1].length <= indent + 1 && m[1].length >= indent) {
      if (/\d/.test(m[2]) !== ordered) break;
      item = el("li");
      renderInline(m[3], item, cite);
      list.append(item);
      i += 1;
    } else if (m && m[1].length > indent + 1 && item) {
      i = renderList(lines, i, item, cite);
    } else if (line.trim() && item && /^\s/.test(line) && !m) {
      item.append(el("br"));
      renderInline(line.trim(), item, cite);
      i += 1;
    } else if (!line.trim() && i + 1 < lines.length && ITEM.test(lines[i + 1])
               && lines[i + 1].match(ITEM)[1].length >= indent) {
      i += 1; // a blank line between items keeps the list going
    } else {
      break;
    }
  }
  parent.append(list);
  return i;
}

export function renderMarkdown(text, { cite } = {}) {
  const fragment = document.createDocumentFragment();
  renderBlocks(String(text ?? "").split(/\r?\n/), fragment, cite);
  return fragment;
}
