// A small Markdown renderer for opened sources: headings, tables, lists, code and paragraphs,
// built as DOM nodes whose text is only ever set as text, so that no HTML in a document is run.
// The cited passage is marked across whatever blocks it spans: two control characters are put
// at its start and end, and every text run between them becomes a <mark>.
"use strict";

(function () {
  const OPEN = "\u0001";
  const CLOSE = "\u0002";
  const SENTINELS = /([\u0001\u0002])/;
  const TABLE_RULE = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
  const LIST_ITEM = /^\s*([-*+]|\d+[.)])\s+/;
  const HEADING = /^(#{1,6})\s+/;
  const FENCE = /^\s*```/;

  function renderer(container) {
    let marking = false;
    const marks = [];
    // Text into parent, each run between the sentinels inside a <mark>.
    function text(parent, value) {
      for (const piece of value.split(SENTINELS)) {
        if (piece === OPEN) marking = true;
        else if (piece === CLOSE) marking = false;
        else if (piece && marking) {
          const mark = document.createElement("mark");
          mark.textContent = piece;
          parent.appendChild(mark);
          marks.push(mark);
        } else if (piece) parent.appendChild(document.createTextNode(piece));
      }
    }
    // A line not shown (a table's rule): its sentinels still count.
    function skip(value) {
      for (const piece of value.split(SENTINELS)) {
        if (piece === OPEN) marking = true;
        else if (piece === CLOSE) marking = false;
      }
    }
    // **bold** and `code` within a block; the rest as text.
    function inline(parent, value) {
      for (const piece of value.split(/(\*\*[^*]+\*\*|`[^`]+`)/)) {
        if (/^\*\*[^*]+\*\*$/.test(piece)) text(parent.appendChild(document.createElement("strong")), piece.slice(2, -2));
        else if (/^`[^`]+`$/.test(piece)) text(parent.appendChild(document.createElement("code")), piece.slice(1, -1));
        else text(parent, piece);
      }
    }
    function element(tag, parent = container) {
      return parent.appendChild(document.createElement(tag));
    }
    return { text, skip, inline, element, marks };
  }

  const bare = (line) => line.replace(/[\u0001\u0002]/g, "");

  function cells(line) {
    return line
      .trim()
      .replace(/^([\u0001\u0002]*)\|/, "$1")
      .replace(/\|([\u0001\u0002]*)$/, "$1")
      .split("|");
  }

  function table(r, lines, i) {
    const grid = r.element("table");
    const head = r.element("tr", r.element("thead", grid));
    for (const cell of cells(lines[i])) r.inline(r.element("th", head), cell.trim());
    r.skip(lines[i + 1]);
    const body = r.element("tbody", grid);
    let j = i + 2;
    for (; j < lines.length && bare(lines[j]).includes("|"); j++) {
      const row = r.element("tr", body);
      for (const cell of cells(lines[j])) r.inline(r.element("td", row), cell.trim());
    }
    return j;
  }

  function list(r, lines, i) {
    const ordered = /^\s*\d/.test(bare(lines[i]));
    const items = r.element(ordered ? "ol" : "ul");
    let j = i;
    for (; j < lines.length && LIST_ITEM.test(bare(lines[j])); j++) {
      const line = lines[j];
      const marker = line.match(/^[\s\u0001\u0002]*([-*+]|\d+[.)])\s+/)[0];
      r.skip(marker);
      r.inline(r.element("li", items), line.slice(marker.length));
    }
    return j;
  }

  function code(r, lines, i) {
    r.skip(lines[i]);
    const block = r.element("code", r.element("pre"));
    let j = i + 1;
    const body = [];
    for (; j < lines.length && !FENCE.test(bare(lines[j])); j++) body.push(lines[j]);
    r.text(block, body.join("\n"));
    if (j < lines.length) r.skip(lines[j]);
    return j + 1;
  }

  function paragraph(r, lines, i) {
    const p = r.element("p");
    let j = i;
    const body = [];
    for (; j < lines.length && bare(lines[j]).trim() && !startsBlock(lines, j); j++) body.push(lines[j]);
    r.inline(p, body.join("\n"));
    return j;
  }

  function startsBlock(lines, i) {
    const line = bare(lines[i]);
    return HEADING.test(line) || LIST_ITEM.test(line) || FENCE.test(line) || isTable(lines, i);
  }

  function isTable(lines, i) {
    return bare(lines[i]).includes("|") && i + 1 < lines.length && TABLE_RULE.test(bare(lines[i + 1]));
  }

  function markdown(r, source) {
    const lines = source.split("\n");
    let i = 0;
    while (i < lines.length) {
      const line = bare(lines[i]);
      if (!line.trim()) {
        r.skip(lines[i++]);
      } else if (HEADING.test(line)) {
        const level = line.match(HEADING)[1].length;
        const marker = lines[i].match(/^[\s\u0001\u0002]*#{1,6}\s+/)[0];
        r.skip(marker);
        r.inline(r.element(`h${Math.min(level + 2, 6)}`), lines[i].slice(marker.length));
        i += 1;
      } else if (isTable(lines, i)) i = table(r, lines, i);
      else if (LIST_ITEM.test(line)) i = list(r, lines, i);
      else if (FENCE.test(line)) i = code(r, lines, i);
      else i = paragraph(r, lines, i);
    }
  }

  // The index keeps a passage's words with its line breaks collapsed to spaces: the breaks a
  // table needs come back from its rule row (its column count), and a heading's marks start a
  // paragraph (where its title ends is lost with the breaks, so it is not shown as a heading).
  function unflatten(text) {
    const rule = /\|(?:\s*:?-{3,}:?\s*\|)+/g;
    let out = "";
    let from = 0;
    for (let match; (match = rule.exec(text)); ) {
      const columns = match[0].split("|").length - 2;
      let head = match.index - 1;
      for (let pipes = 0; head >= from && pipes <= columns; head--) if (text[head] === "|") pipes++;
      head += 1;
      if (text[head] !== "|") continue;
      let end = match.index + match[0].length;
      const rows = [];
      const row = new RegExp(`^[\\s\u0001\u0002]*\\|(?:[^|]*\\|){${columns}}`);
      for (let next; (next = text.slice(end).match(row)); end += next[0].length) rows.push(next[0].trim());
      out += headings(text.slice(from, head)) + "\n" + text.slice(head, match.index).trim() + "\n" + match[0];
      out += "\n" + rows.join("\n") + "\n\n";
      from = end;
      rule.lastIndex = end;
    }
    return out + headings(text.slice(from));
  }

  // A line holding a heading after other words, or a table's rule after its header.
  const FLATTENED = /\S\s+#{1,6}\s|\|\s*\|\s*:?-{3,}/;
  const headings = (text) => text.replace(/(^|\s)([\u0001\u0002]*)#{1,6}\s+/g, "\n\n$2");

  // Renders text into container (Markdown when asked, otherwise as plain text with its line
  // breaks) with text[start:end] marked; returns the <mark> elements.
  window.renderDocument = function (container, text, start, end, asMarkdown) {
    container.replaceChildren();
    const r = renderer(container);
    const source = text.slice(0, start) + OPEN + text.slice(start, end) + CLOSE + text.slice(end);
    const lines = source.replace(/\r\n/g, "\n");
    if (asMarkdown) markdown(r, lines.split("\n").map((line) => (FLATTENED.test(line) ? unflatten(line) : line)).join("\n"));
    else {
      const plain = r.element("p");
      plain.className = "plain";
      r.text(plain, source);
    }
    return r.marks;
  };
})();
