async (cfg) => {
  // Loaded by vlforge.renderers.paginate (measure_script) and run with page.evaluate: page
  // scripts stay disabled, evaluate still works. Styles the document into pages, then
  // returns every rendered text piece as [page, block, flags, text] with its blocks.
  const doc = document, root = doc.documentElement, body = doc.body;
  // Malformed XHTML: Chromium keeps what it parsed before the error, plus a <parsererror>.
  if (!root || doc.getElementsByTagNameNS('*', 'parsererror').length) return {error: 'parsererror'};
  if (!body) return {error: 'no_body'};
  // The viewport a fixed-layout page declares (<meta name="viewport" content="width=..,
  // height=..">), else the package's, else the page's own size.
  function fixedViewport() {
    const meta = doc.querySelector('meta[name="viewport"]');
    const values = {};
    for (const part of (meta ? meta.getAttribute('content') || '' : '').split(/[,;]/)) {
      const [key, value] = part.split('=').map((t) => t.trim());
      if (key && parseFloat(value) > 0) values[key.toLowerCase()] = Math.round(parseFloat(value));
    }
    if (values.width && values.height) return [values.width, values.height];
    return cfg.viewport || [W, H];
  }
  function fixedCss([width, height]) {
    const scale = Math.min(W / width, H / height);
    return `html { width: ${width}px !important; height: ${height}px !important; overflow: hidden !important;
      margin: 0 !important; transform: scale(${scale}) !important; transform-origin: 0 0 !important; }`;
  }
  const XHTML = 'http://www.w3.org/1999/xhtml';
  const W = cfg.width, H = cfg.height;
  // A fixed-layout (pre-paginated) page is laid out at its own viewport, as designed (no
  // template), and scaled to fit the page: one page, whatever its writing direction.
  const fixed = cfg.fixed ? fixedViewport() : null;
  // A right-to-left book (Arabic, Hebrew, Persian): its pages follow one another as the
  // columns of <body> do, so <body> keeps left-to-right column order (page k is still at
  // x = k * width) and hands the book's direction to its content, as the book set it.
  const direction = getComputedStyle(body).direction;
  // Vertical writing (Japanese, Chinese): the book's lines stand top to bottom and follow
  // one another right to left (vertical-rl); <body>'s columns then run down the inline
  // axis, so pages stand one below the other: page k at y = k * height.
  const writingMode = getComputedStyle(body).writingMode;
  const vertical = !fixed && writingMode.startsWith('vertical');
  const sheets = fixed ? [['vlforge-fixed', fixedCss(fixed)]]
    : [['vlforge-template', cfg.templateCss], ['vlforge-geometry', vertical ? cfg.verticalGeometryCss : cfg.geometryCss]];
  if (!fixed && !vertical && direction === 'rtl') {
    sheets.push(['vlforge-direction', 'body { direction: ltr !important; } body > :not([dir]) { direction: rtl; }']);
  }
  for (const [id, css] of sheets) {
    const style = doc.createElementNS(XHTML, 'style');  // createElement is namespace-less in XML
    style.id = id;
    style.textContent = css;
    (doc.head || root).appendChild(style);
  }
  const styles = new Map();
  const style = (el) => { let s = styles.get(el); if (!s) { s = getComputedStyle(el); styles.set(el, s); } return s; };
  // Fixed and sticky boxes would be painted on every page: keep them in the flow.
  for (const el of body.querySelectorAll('*')) {
    const position = style(el).position;
    if (position === 'fixed' || position === 'sticky') el.style.setProperty('position', 'static', 'important');
  }
  body.getBoundingClientRect();  // a first layout, so that the fonts in use start loading
  await doc.fonts.ready;
  await Promise.all(Array.from(doc.images, (img) => img.decode().catch(() => null)));
  // A missing (or refused) image would show a broken-image icon and its alt text.
  for (const img of doc.images) {
    if (img.complete && img.naturalWidth === 0) img.style.setProperty('display', 'none', 'important');
  }
  // Along the axis pages follow: P is a page's length, at(r) where a box starts, size(r) its length.
  const P = vertical ? H : W;
  const at = vertical ? (r) => r.top : (r) => r.left, size = vertical ? (r) => r.height : (r) => r.width;
  const extent = vertical ? Math.max(root.scrollHeight, body.scrollHeight) : Math.max(root.scrollWidth, body.scrollWidth);
  const signature = [extent, vertical ? root.scrollWidth : root.scrollHeight, body.getClientRects().length];
  // Widen (lengthen) the root so that the last page can be scrolled to (the body is absolutely placed).
  const widen = (pages) => fixed || root.style.setProperty(vertical ? 'height' : 'width', Math.max(1, pages) * P + 'px', 'important');
  if (!cfg.walk) { widen(cfg.pages); return {signature}; }
  if (Math.ceil(extent / P) > cfg.maxPages) return {error: 'too_many_pages', pages: Math.ceil(extent / P)};

  const ITALIC = new Set(['em', 'i', 'cite', 'dfn', 'var']), BOLD = new Set(['strong', 'b']);
  const CODE = new Set(['code', 'kbd', 'samp', 'tt']);
  // Elements that are inline by nature: made blocks by CSS (a verse line), they are lines
  // of a paragraph, not paragraphs of their own.
  const LINE_TAGS = new Set(['span', 'a', 'em', 'i', 'b', 'strong', 'small', 'sub', 'sup', 'q',
    'cite', 'abbr', 'code', 'kbd', 'samp', 'var', 'mark', 'u', 's', 'font', 'label', 'time',
    'bdi', 'bdo', 'br', 'td', 'th', 'tr', 'caption', 'dt']);
  const MATHML = 'http://www.w3.org/1998/Math/MathML';
  const isInline = (d) => d.startsWith('inline') || d === 'contents' || d.startsWith('ruby') || d === 'math';
  // Inside <math> every element is a "block math" box, but the formula is one run of text.
  const inFormula = (e) => e.namespaceURI === MATHML && e.localName !== 'math';
  const blockOf = (el) => {
    for (let e = el; e && e !== body; e = e.parentElement) {
      if (!inFormula(e) && !isInline(style(e).display)) return e;
    }
    return body;
  };
  const blocks = [], blockEls = [], blockIds = new Map(), items = new Map(), infos = new Map();

  const roman = (n) => {
    let out = '';
    for (const [v, s] of [[1000, 'm'], [900, 'cm'], [500, 'd'], [400, 'cd'], [100, 'c'], [90, 'xc'],
                          [50, 'l'], [40, 'xl'], [10, 'x'], [9, 'ix'], [5, 'v'], [4, 'iv'], [1, 'i']])
      while (n >= v) { out += s; n -= v; }
    return out;
  };
  const alpha = (n) => { let out = ''; for (; n > 0; n = Math.floor((n - 1) / 26)) out = String.fromCharCode(97 + (n - 1) % 26) + out; return out; };
  const ordinal = (li) => {
    const list = li.parentElement;
    let n = list && list.localName === 'ol' && list.hasAttribute('start') ? (parseInt(list.getAttribute('start')) || 1) : 1;
    for (const sibling of list ? list.children : [li]) {
      if (sibling.localName !== 'li') continue;
      if (sibling.hasAttribute('value')) n = parseInt(sibling.getAttribute('value')) || n;
      if (sibling === li) return n;
      n++;
    }
    return n;
  };
  // What the list item's ::marker shows, for the common list-style-types.
  const marker = (li) => {
    const s = style(li), n = ordinal(li), type = s.listStyleType;
    if (s.display !== 'list-item' || type === 'none') return ['', ''];
    if (type.startsWith('"')) return [type.slice(1, -1).trim(), '-'];
    const bullets = {disc: '•', circle: '◦', square: '▪'};
    if (bullets[type]) return [bullets[type], '-'];
    const text = {'lower-alpha': alpha(n), 'lower-latin': alpha(n), 'upper-alpha': alpha(n).toUpperCase(),
      'upper-latin': alpha(n).toUpperCase(), 'lower-roman': roman(n), 'upper-roman': roman(n).toUpperCase(),
      'decimal-leading-zero': (n < 10 ? '0' : '') + n}[type] ?? String(n);
    return [text + '.', String(n) + '.'];
  };
  const itemOf = (li) => {
    if (!items.has(li)) {
      let depth = 0;
      for (let e = li.parentElement; e; e = e.parentElement) if (e.localName === 'ul' || e.localName === 'ol') depth++;
      items.set(li, [items.size, ...marker(li), Math.max(0, depth - 1)]);
    }
    return items.get(li);
  };
  const blockId = (el) => {
    if (blockIds.has(el)) return blockIds.get(el);
    const id = blocks.length;
    blockIds.set(el, id);
    blockEls.push(el);
    const heading = el.closest('h1, h2, h3, h4, h5, h6'), li = el.closest('li');
    let quote = 0;
    for (let e = el; e; e = e.parentElement) if (e.localName === 'blockquote') quote++;
    // The list item's marker goes before its first paragraph only.
    const first = li && (li === el || blockOf(li) === li || el === li.querySelector(':scope > *'));
    blocks.push({gap: LINE_TAGS.has(el.localName) ? 1 : 2, heading: heading ? Number(heading.localName[1]) : 0,
                 item: li && first ? itemOf(li) : null, quote, pre: !!el.closest('pre')});
    return id;
  };
  const infoOf = (el) => {
    if (infos.has(el)) return infos.get(el);
    const s = style(el), block = blockOf(el);
    let f = 0;
    for (let e = el; e && e !== block && e !== body; e = e.parentElement) {
      const t = e.localName;
      if (ITALIC.has(t)) f |= 1; else if (BOLD.has(t)) f |= 2; else if (CODE.has(t)) f |= 4;
    }
    const collapse = s.whiteSpaceCollapse || (s.whiteSpace.startsWith('pre') ? 'preserve' : 'collapse');
    if (collapse !== 'collapse') f = (f | 8) & ~4;
    const info = {visible: s.visibility === 'visible', block: blockId(block), flags: f, transform: s.textTransform,
                  caps: s.fontVariantCaps};
    infos.set(el, info);
    return info;
  };
  const transform = (text, how) => {
    if (how === 'uppercase') return text.toUpperCase();
    if (how === 'lowercase') return text.toLowerCase();
    if (how === 'capitalize') return text.replace(/(^|[^\p{L}\p{N}'’])(\p{L})/gu, (m, a, b) => a + b.toUpperCase());
    return text;
  };
  // What the page shows: the text after CSS case transforms, and small capitals (Chromium
  // draws them, synthesised if the font has none) as the capitals they are. Each change
  // sets its kind's flag (KIND), so the sample can say how its text differs from the source.
  const KIND = {transform: 32, smallCaps: 64, firstLetter: 128, generated: 256, latex: 512};
  const SMALL_CAPS = new Set(['small-caps', 'all-small-caps', 'petite-caps', 'all-petite-caps']);
  const display = (text, how, caps) => {
    let kinds = 0, out = transform(text, how);
    if (out !== text) kinds |= KIND.transform;
    if (SMALL_CAPS.has(caps) && out.toUpperCase() !== out) { out = out.toUpperCase(); kinds |= KIND.smallCaps; }
    return [out, kinds];
  };
  // ::first-letter (drop caps): its own case and capitals apply to the first letter of the
  // block's first text, which innerText transforms too.
  const firstLetters = new Map();
  const firstLetter = (blockEl, text) => {
    if (firstLetters.has(blockEl)) return [text, 0];
    const at = text.search(/[\p{L}\p{N}]/u);
    if (at < 0) return [text, 0];
    firstLetters.set(blockEl, true);
    const s = getComputedStyle(blockEl, '::first-letter');
    const [letter, kinds] = display(text[at], s.textTransform, s.fontVariantCaps);
    return [text.slice(0, at) + letter + text.slice(at + 1), kinds && KIND.firstLetter];
  };
  const shownText = (text, info) => {
    const [out, kinds] = display(text, info.transform, info.caps);
    const [first, letterKinds] = firstLetter(blockEls[info.block], out);
    return [first, kinds | letterKinds];
  };
  // Generated content (::before, ::after) shows on the page but is in no text node:
  // strings, attr() and quotes are read from the computed `content`.
  let quoteDepth = 0;
  const quoteMarks = (s) => {
    const marks = Array.from(s.quotes.matchAll(/"((?:[^"\\]|\\.)*)"/g), (m) => m[1]);
    return marks.length >= 2 ? marks : ['“', '”', '‘', '’'];
  };
  const contentText = (el, s) => {
    let out = '';
    const parts = /"((?:[^"\\]|\\.)*)"|attr\(\s*([^)\s]+)\s*\)|(open-quote|close-quote)/g;
    for (const m of s.content.matchAll(parts)) {
      if (m[1] !== undefined) out += m[1].replace(/\\(.)/g, '$1');
      else if (m[2]) out += el.getAttribute(m[2]) || '';
      else {
        const marks = quoteMarks(s), open = m[3] === 'open-quote';
        if (!open) quoteDepth = Math.max(0, quoteDepth - 1);
        const level = Math.min(quoteDepth, marks.length / 2 - 1);
        out += marks[level * 2 + (open ? 0 : 1)];
        if (open) quoteDepth++;
      }
    }
    return out;
  };
  const addGenerated = (el, which) => {
    const s = getComputedStyle(el, which);
    if (s.content === 'none' || s.content === 'normal' || s.display === 'none' || s.visibility !== 'visible') return;
    const rects = shown(el.getClientRects());
    const text = contentText(el, s);
    if (!rects.length || !text) return;
    const r = which === '::before' ? rects[0] : rects[rects.length - 1];
    const [out, kinds] = display(text, s.textTransform, s.fontVariantCaps);
    const info = infoOf(el);
    const [first, letterKinds] = which === '::before' ? firstLetter(blockEls[info.block], out) : [out, 0];
    add(pageOf(r), info, KIND.generated | kinds | letterKinds, first, [], true, '');
  };
  // A MathML formula is written as LaTeX, $...$ (display: $$...$$), a form a model can
  // learn: its own TeX (<annotation encoding="application/x-tex">) when it carries one, else
  // its MathML goes back with the piece (sixth item) and paginate converts it (pandoc).
  const TEX = new Set(['application/x-tex', 'text/x-latex', 'application/x-latex', 'tex', 'latex']);
  const serializer = new XMLSerializer();
  const addFormula = (el) => {
    const rects = shown(el.getClientRects());
    if (!rects.length || !infoOf(el).visible) return;
    const tex = Array.from(el.getElementsByTagNameNS(MATHML, 'annotation'))
      .find((a) => TEX.has((a.getAttribute('encoding') || '').toLowerCase()) && a.textContent.trim());
    const shownChars = [];
    const texts = doc.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let t = texts.nextNode(); t; t = texts.nextNode()) {
      // innerText has what shows: no annotation, nothing invisible (<mphantom>)
      const parent = t.parentElement;
      if (!parent.closest('annotation, annotation-xml') && style(parent).visibility === 'visible') shownChars.push(t.data);
    }
    const fence = el.getAttribute('display') === 'block' ? '$$' : '$';
    const text = tex ? fence + tex.textContent.trim() + fence : fence;
    add(pageOf(rects[0]), infoOf(el), KIND.latex, text, rects, true, shownChars.join(''));
    if (!tex) pieces[pieces.length - 1].push(serializer.serializeToString(el));
  };

  const along = (r) => Math.floor((at(r) + size(r) / 2) / P);
  const pageOf = fixed ? (r) => (along(r) === 0 ? 0 : -1) : along;
  const shown = (rects) => Array.from(rects).filter((r) => r.width > 0 || r.height > 0);
  const inside = vertical
    ? (r, p) => r.top >= p * H - 1 && r.bottom <= (p + 1) * H + 1 && r.left >= -1 && r.right <= W + 1
    : (r, p) => r.left >= p * W - 1 && r.right <= (p + 1) * W + 1 && r.top >= -1 && r.bottom <= H + 1;
  const range = doc.createRange();
  const pieces = [], outside = {};
  let lastPage = -1;
  // RUBY_BASE while a ruby's base run has not yet given a piece: its first piece carries it.
  let opensBase = 0;
  // Text placed where no page shows it (the "visually hidden" idiom: left: -999em) is
  // not on any page: page -1, kept only for the check against innerText.
  const onScreen = vertical ? (r) => r.right > 0 && r.bottom > 0 && r.left < W : (r) => r.right > 0 && r.bottom > 0 && r.top < H;
  // `source`: what innerText has for this piece when the page text says it otherwise
  // (generated content: nothing; a formula as LaTeX: its MathML characters).
  const add = (page, info, flag, text, rects, shownAlready = false, source = null) => {
    flag |= opensBase;
    opensBase = 0;
    if (rects.length && !rects.some(onScreen)) page = -1;
    const [out, kinds] = shownAlready || flag & 16 ? [text, 0] : shownText(text, info);
    pieces.push(source === null ? [page, info.block, info.flags | flag | kinds, out]
                                : [page, info.block, info.flags | flag | kinds, out, source]);
    if (page < 0) return;
    for (const r of rects) if (!inside(r, page)) outside[page] = (outside[page] || 0) + 1;
    lastPage = Math.max(lastPage, page);
  };
  const rectsOf = (node, start, end) => { range.setStart(node, start); range.setEnd(node, end); return shown(range.getClientRects()); };
  // The page of the first character at or after i that has a box (collapsed white space has none).
  const pageAt = (node, i) => {
    for (let j = i; j < node.length; j++) { const r = rectsOf(node, j, j + 1); if (r.length) return pageOf(r[0]); }
    return Infinity;
  };
  const addText = (node, info) => {
    const rects = rectsOf(node, 0, node.length);
    if (!rects.length) return;  // not rendered, or white space that collapsed away
    const pages = rects.map(pageOf);
    if (Math.min(...pages) === Math.max(...pages)) { add(pages[0], info, 0, node.data, rects); return; }
    // The node runs over a page break: binary-search each place where the page changes.
    for (let start = 0; start < node.length;) {
      const page = pageAt(node, start);
      if (page === Infinity) { pieces[pieces.length - 1][3] += node.data.slice(start); break; }
      let lo = start + 1, hi = node.length;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (pageAt(node, mid) > page) hi = mid; else lo = mid + 1; }
      add(page, info, 0, node.data.slice(start, lo), rectsOf(node, start, lo));
      start = lo;
    }
  };
  // Elements whose ::before/::after cannot show (replaced content, foreign namespaces).
  const NO_PSEUDO = new Set(['img', 'video', 'audio', 'canvas', 'iframe', 'object', 'embed', 'input',
    'select', 'textarea', 'br', 'wbr', 'hr', 'svg', 'math']);
  const element = (el) => {
    if (el.localName === 'br') {
      const info = infoOf(el), rects = shown(el.getClientRects());
      if (info.visible && rects.length) add(lastPage >= 0 ? lastPage : pageOf(rects[0]), info, 16, '\n', []);
      return;
    }
    if (el.localName === 'math' && el.namespaceURI === MATHML) { addFormula(el); return; }
    const pseudo = el.namespaceURI === XHTML && !NO_PSEUDO.has(el.localName) && style(el).display !== 'none';
    if (pseudo) addGenerated(el, '::before');
    if (el.localName === 'ruby' && el.namespaceURI === XHTML) walkRuby(el); else walk(el);
    if (pseudo) addGenerated(el, '::after');
  };
  const visit = (parent, node) => {
    if (node.nodeType === Node.ELEMENT_NODE) element(node);
    else if (node.nodeType === Node.TEXT_NODE && node.length) {
      const info = infoOf(parent);
      if (info.visible) addText(node, info);
    }
  };
  const walk = (parent) => {
    for (let node = parent.firstChild; node; node = node.nextSibling) visit(parent, node);
  };
  // Ruby (furigana): a run of base content, then a run of annotations (<rt>, <rtc>) that
  // reads it: mono ruby (漢<rt>かん</rt>字<rt>じ</rt>) is two such pairs, group ruby one.
  // The first piece of a base run carries RUBY_BASE and the run's annotations are one
  // piece flagged RUBY, so that paginate writes the reading as the `ruby` setting asks.
  // <rp> holds the parentheses shown where ruby is not supported: never page text.
  const RUBY = 1024, RUBY_BASE = 2048;
  const isBlank = (node) => node.nodeType === Node.TEXT_NODE && !node.data.trim();
  const walkRuby = (ruby) => {
    // fallbacks: <rp>s after the annotations, kept in innerText's order (after the reading)
    let annotations = [], fallbacks = [], baseStarts = true;
    const read = () => {
      addReading(annotations);
      fallbacks.forEach(addUnread);
      annotations = [];
      fallbacks = [];
    };
    for (let node = ruby.firstChild; node; node = node.nextSibling) {
      const tag = node.nodeType === Node.ELEMENT_NODE ? node.localName : '';
      if (tag === 'rp') { if (annotations.length) fallbacks.push(node); else addUnread(node); continue; }
      if (tag === 'rt' || tag === 'rtc') { annotations.push(node); continue; }
      if (annotations.length && isBlank(node)) continue;  // white space between annotations
      if (annotations.length) { read(); baseStarts = true; }
      if (baseStarts) { opensBase = RUBY_BASE; baseStarts = false; }
      visit(ruby, node);
    }
    read();
  };
  const addReading = (annotations) => {
    opensBase = 0;  // a base that gave no piece opens nothing
    const shownEls = annotations.filter((el) => infoOf(el).visible && shown(el.getClientRects()).length);
    if (!shownEls.length) return;
    const rects = shownEls.flatMap((el) => shown(el.getClientRects()));
    add(pageOf(rects[0]), infoOf(shownEls[0]), RUBY, shownEls.map((el) => el.innerText).join(''), rects, true);
  };
  // An <rp> that a book's CSS shows anyway is on the page image and in innerText, not in page texts.
  const addUnread = (el) => {
    const rects = shown(el.getClientRects());
    if (rects.length && infoOf(el).visible) add(pageOf(rects[0]), infoOf(el), 0, '', rects, true, el.innerText);
  };
  walk(body);
  const imagePages = [];
  for (const el of body.querySelectorAll('img, svg, video, canvas, object, embed, iframe')) {
    if (el.parentElement && el.parentElement.closest('svg')) continue;
    const r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2 || style(el).visibility !== 'visible') continue;
    const last = Math.floor((at(r) + size(r) - 1) / P);
    for (let p = Math.max(0, Math.floor(at(r) / P)); p <= last; p++) imagePages.push(p);
    lastPage = Math.max(lastPage, last);
  }
  if (fixed) {  // one page; designed pages often paint their picture as a CSS background
    const painted = [root, body, ...body.querySelectorAll('*')].some((el) => style(el).backgroundImage.includes('url('));
    if (painted || imagePages.length) imagePages.splice(0, imagePages.length, 0);
    lastPage = 0;
  }
  const pages = lastPage + 1;
  widen(pages);
  const lang = root.getAttribute('lang') || root.getAttributeNS('http://www.w3.org/XML/1998/namespace', 'lang')
    || body.getAttribute('lang') || '';
  return {pieces, blocks, imagePages, outside: Object.entries(outside), pages, signature, fixed, direction, writingMode,
          text: body.innerText, title: doc.title || '', lang, contentType: doc.contentType};
}
