// memesearch web page: vanilla JS over the JSON API under /api. Everything is built with DOM methods
// and textContent (no innerHTML), so item text from the index can never inject markup.
(() => {
  'use strict';

  const I18N = {
    en: {
      title: 'memesearch', tagline: 'Find the meme for your message',
      langToggle: '中文', langToggleAria: 'Switch language to Chinese',
      searchLabel: 'Search memes', searchPlaceholder: 'Type a chat message, e.g. “so sleepy” or “笑哭了”',
      searchButton: 'Search', mediaLabel: 'Media type', mediaAll: 'All media', mediaImage: 'Images',
      mediaGif: 'GIFs', mediaVideo: 'Videos', explainLabel: 'Explain', objectsLabel: 'Objects', emotionsLabel: 'Filter by emotion',
      imageSearchLabel: 'Search by image: drop a file here or', imageSearchChoose: 'choose one',
      resultsLabel: 'Results',
      emptyStart: 'Type a message above to find memes, or drop an image to find similar ones.',
      emptyNone: 'No results. Try other words or remove the filters.',
      searching: 'Searching…', resultsFor: '{n} results for “{q}” · {ms} ms',
      resultsForImage: '{n} results like the image {q} · {ms} ms', error: 'Error: {msg}',
      network: 'Cannot reach the server ({msg}).',
      uploadTitle: 'Add an image', tokenLabel: 'Token', fileLabel: 'Image or video',
      uploadButton: 'Upload', uploading: 'Uploading…', uploaded: 'Added “{name}” as item {id}.',
      duplicate: '“{name}” is already in the index as item {id}.', needToken: 'Enter a write token first.',
      authNeeded: 'This server needs a token to search (memesearch tokens create --scope read): enter it here.',
      tokenUse: 'Use token', authRefused: 'The token was refused: check it and try again.',
      needFile: 'Choose a file first.', writesDisabled: 'Uploads are disabled on this server (no write token: memesearch tokens create --scope write).',
      items: '{n} items in the index', docs: 'API docs', openOriginal: 'Open the original',
      fused: 'Fused', image: 'Image', text: 'Text', lexical: 'Words', emotion: 'Emotion', rank: '#{n}', ocr: 'Text in image: {t}',
      media_image: 'image', media_gif: 'GIF', media_video: 'video',
      frameAt: 'best frame {i}/{n} at {s} s', frameNo: 'best frame {i}/{n}', atTime: '{t} (at {s} s)',
      relevance: 'Relevance', likely: 'likely match {p}', unlikely: 'less likely {p}',
      generated: 'generated caption ({name})', generatedTitle: 'Written by the captioner {name} {version}, not given with the file',
      resultsForCalibrated: '{likely} likely matches of {n} results for “{q}” · {ms} ms',
      showUnlikely: 'Show {n} less likely results', showUnlikelyOne: 'Show 1 less likely result',
      hideUnlikely: 'Hide the less likely results', unlikelyLabel: 'Less likely results',
      noLikely: 'No likely match for “{q}”.', noLikelyShown: 'No likely match for “{q}” — showing the closest results.',
    },
    zh: {
      title: 'memesearch 表情搜索', tagline: '为你的消息找到合适的表情包',
      langToggle: 'English', langToggleAria: '切换到英文',
      searchLabel: '搜索表情包', searchPlaceholder: '输入一句聊天消息，例如“困死了”或“so sleepy”',
      searchButton: '搜索', mediaLabel: '媒体类型', mediaAll: '全部媒体', mediaImage: '图片',
      mediaGif: '动图', mediaVideo: '视频', explainLabel: '解释', objectsLabel: '按物体', emotionsLabel: '按情绪筛选',
      imageSearchLabel: '以图搜图：把文件拖到这里，或', imageSearchChoose: '选择文件',
      resultsLabel: '搜索结果',
      emptyStart: '在上方输入消息来查找表情包，或拖入一张图片查找相似的表情。',
      emptyNone: '没有结果。换个说法，或去掉筛选条件。',
      searching: '正在搜索…', resultsFor: '“{q}” 的 {n} 个结果 · {ms} 毫秒',
      resultsForImage: '与图片 {q} 相似的 {n} 个结果 · {ms} 毫秒', error: '错误：{msg}',
      network: '无法连接服务器（{msg}）。',
      uploadTitle: '添加图片', tokenLabel: '令牌', fileLabel: '图片或视频',
      uploadButton: '上传', uploading: '正在上传…', uploaded: '已添加“{name}”，条目编号 {id}。',
      duplicate: '“{name}”已在索引中，条目编号 {id}。', needToken: '请先输入写入令牌。',
      authNeeded: '此服务器搜索需要令牌（memesearch tokens create --scope read）：请在此输入。',
      tokenUse: '使用令牌', authRefused: '令牌被拒绝：请检查后重试。',
      needFile: '请先选择文件。', writesDisabled: '此服务器未开启上传（没有写入令牌：memesearch tokens create --scope write）。',
      items: '索引中共 {n} 个条目', docs: 'API 文档', openOriginal: '打开原图',
      fused: '融合', image: '图像', text: '文本', lexical: '词匹配', emotion: '情绪', rank: '第 {n} 名', ocr: '图中文字：{t}',
      media_image: '图片', media_gif: '动图', media_video: '视频',
      frameAt: '最佳帧 {i}/{n}（{s} 秒）', frameNo: '最佳帧 {i}/{n}', atTime: '{t}（{s} 秒）',
      relevance: '相关度', likely: '很可能匹配 {p}', unlikely: '不太可能 {p}',
      generated: '生成的描述（{name}）', generatedTitle: '由描述模型 {name} {version} 生成，并非文件自带',
      resultsForCalibrated: '“{q}” 的 {n} 个结果中有 {likely} 个很可能匹配 · {ms} 毫秒',
      showUnlikely: '显示另外 {n} 个不太可能匹配的结果', showUnlikelyOne: '显示另外 1 个不太可能匹配的结果',
      hideUnlikely: '隐藏不太可能匹配的结果', unlikelyLabel: '不太可能匹配的结果',
      noLikely: '没有很可能匹配“{q}”的结果。', noLikelyShown: '没有很可能匹配“{q}”的结果——下面是最接近的结果。',
    },
  };
  // A calibrated hit is a "likely match" at this relevance (a probability) or above; the rest are greyed
  // out behind a toggle. Uncalibrated responses (relevance null) are shown as they always were.
  const LIKELY = 0.5;
  // The branch list comes with every search response (SearchResult.branches), in display order.
  const TOKEN_KEY = 'memesearch.token';
  const LANG_KEY = 'memesearch.lang';

  const $ = (id) => document.getElementById(id);
  const state = {
    lang: pickLang(), emotions: [], emotionById: new Map(), selected: new Set(),
    last: null, // {kind: 'text', q} or {kind: 'image', file}
    response: null, items: null, writes: true,
    needToken: false, // reads need a token (--auth-reads): the token field is shown above the search
    showUnlikely: null, // the user's choice for the less likely hits of this response (null: the default)
    uploadNote: null, // [key, vars] of the last upload message, re-rendered on a language switch
  };

  function pickLang() {
    let saved = null;
    try { saved = localStorage.getItem(LANG_KEY); } catch (e) { /* storage disabled */ }
    if (saved === 'en' || saved === 'zh') return saved;
    return (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en';
  }

  function t(key, vars) {
    const text = (I18N[state.lang] && I18N[state.lang][key]) || I18N.en[key] || key;
    return text.replace(/\{(\w+)\}/g, (_, name) => (vars && name in vars ? String(vars[name]) : ''));
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === 'text') node.textContent = value;
      else if (name === 'class') node.className = value;
      else node.setAttribute(name, value);
    }
    for (const child of children || []) if (child) node.appendChild(child);
    return node;
  }

  // ---- language ----------------------------------------------------------------------------
  function applyLang() {
    document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
    document.title = t('title');
    for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll('[data-i18n-placeholder]')) node.placeholder = t(node.dataset.i18nPlaceholder);
    for (const node of document.querySelectorAll('[data-i18n-aria]')) node.setAttribute('aria-label', t(node.dataset.i18nAria));
    renderFilters();
    renderInfo();
    if (state.uploadNote) $('upload-status').textContent = t(...state.uploadNote);
    if (state.needToken) $('auth-note').textContent = t('authNeeded');
    if (state.response) renderResults(state.response);
    else $('empty').textContent = t('emptyStart');
  }

  function emotionLabel(id) {
    const entry = state.emotionById.get(id);
    if (!entry) return id;
    return state.lang === 'zh' ? entry.zh : entry.en;
  }

  // ---- API -------------------------------------------------------------------------------------
  // The one token field (#token) serves reads (servers run with --auth-reads) and uploads; every API
  // request carries it. Media (<img>, links) cannot send it: the server signs their URLs instead.
  function token() { return $('token').value.trim(); }

  function saveToken() {
    try { sessionStorage.setItem(TOKEN_KEY, token()); } catch (e) { /* storage disabled */ }
  }

  async function api(path, options) {
    const opts = { ...(options || {}) };
    const headers = { ...(opts.headers || {}) };
    if (token() && !headers.Authorization) headers.Authorization = `Bearer ${token()}`;
    opts.headers = headers;
    let response;
    try {
      response = await fetch(path, opts);
    } catch (err) {
      throw new Error(t('network', { msg: err.message }));
    }
    let body = null;
    try { body = await response.json(); } catch (e) { /* not JSON */ }
    if (!response.ok) {
      const message = body && body.error ? body.error.message : `HTTP ${response.status}`;
      const error = new Error(message);
      error.status = response.status;
      // a read refused for want of a token: show the token field (an upload's 401 is the upload's own)
      const write = opts.method === 'DELETE' || (opts.method === 'POST' && path.startsWith('/api/items'));
      if (response.status === 401 && !write) showAuth(true);
      throw error;
    }
    return body;
  }

  // Reads need a token: move the token field from the upload panel up to the form above the search.
  function showAuth(refused) {
    state.needToken = true;
    const form = $('auth-form');
    if (form.hidden) {
      form.insertBefore($('token-row'), $('token-save'));
      form.hidden = false;
    }
    $('auth-note').textContent = t(refused && token() ? 'authRefused' : 'authNeeded');
    if (!token()) $('token').focus();
  }

  async function useToken(event) {
    event.preventDefault();
    if (!token()) { $('token').focus(); return; }
    saveToken();
    clearError();
    $('auth-note').textContent = t('authNeeded');
    await loadInfo();
    await loadEmotions();
    if (state.last) runSearch();
  }

  function showError(message) {
    const box = $('error');
    box.textContent = t('error', { msg: message });
    box.hidden = false;
  }

  function clearError() {
    $('error').hidden = true;
    $('error').textContent = '';
  }

  function filterParams() {
    const params = new URLSearchParams();
    for (const id of state.selected) params.append('emotion', id);
    if ($('media').value) params.set('media', $('media').value);
    if ($('explain').checked) params.set('explain', 'true');
    if (state.objects && $('objects').checked) params.set('objects', 'true');
    params.set('k', '24');
    return params;
  }

  // ---- search ----------------------------------------------------------------------------------
  async function runSearch() {
    if (!state.last) return;
    clearError();
    $('status').textContent = t('searching');
    document.body.setAttribute('aria-busy', 'true');
    try {
      const params = filterParams();
      let response;
      if (state.last.kind === 'text') {
        params.set('q', state.last.q);
        response = await api(`/api/search?${params}`);
        const url = new URL(window.location.href);
        url.search = params.toString();
        history.replaceState(null, '', url);
      } else {
        const form = new FormData();
        form.append('file', state.last.file, state.last.file.name);
        response = await api(`/api/search/image?${params}`, { method: 'POST', body: form });
      }
      state.response = response;
      state.showUnlikely = null;
      renderResults(response);
      if (state.needToken) saveToken();
      if (!state.emotions.length) loadEmotions(); // refused before the token was entered
    } catch (err) {
      state.response = null;
      $('results').replaceChildren();
      $('unlikely-results').replaceChildren();
      renderUnlikely();
      $('status').textContent = '';
      showError(err.message);
    } finally {
      document.body.removeAttribute('aria-busy');
    }
  }

  function isUnlikely(hit) {
    return typeof hit.relevance === 'number' && hit.relevance < LIKELY;
  }

  function renderResults(response) {
    const hits = response.hits || [];
    const calibrated = Boolean(response.calibrated);
    // Calibrated hits come sorted by relevance; the split keeps that order within each part.
    const likely = calibrated ? hits.filter((h) => !isUnlikely(h)) : hits;
    const unlikely = calibrated ? hits.filter(isUnlikely) : [];
    const label = state.last && state.last.kind === 'image' ? state.last.file.name : response.query;
    const ms = Math.round(response.took_ms);
    let key = state.last && state.last.kind === 'image' ? 'resultsForImage' : 'resultsFor';
    if (calibrated) key = 'resultsForCalibrated';
    $('status').textContent = t(key, { n: hits.length, likely: likely.length, q: label, ms });
    $('empty').hidden = hits.length > 0;
    $('empty').textContent = t('emptyNone');
    // Fused scores are not bounded: bars are relative to the best hit; branch scores are in [0, 1].
    const top = Math.max(...hits.map((h) => h.score), 1e-9);
    const branches = response.branches || [];
    $('results').replaceChildren(...likely.map((hit) => card(hit, top, branches)));
    $('unlikely-results').replaceChildren(...unlikely.map((hit) => card(hit, top, branches)));
    renderUnlikely();
  }

  // The toggle, the "no likely match" notice and the visibility of the less likely hits. With no likely
  // hit at all, the closest ones are shown by default (greyed out, with the notice saying so).
  function renderUnlikely() {
    const response = state.response;
    const count = $('unlikely-results').childElementCount;
    const likely = $('results').childElementCount;
    const expanded = state.showUnlikely === null ? likely === 0 : state.showUnlikely;
    const toggle = $('unlikely-toggle');
    $('unlikely-bar').hidden = count === 0;
    $('unlikely-results').hidden = count === 0 || !expanded;
    toggle.setAttribute('aria-expanded', String(count > 0 && expanded));
    if (expanded) toggle.textContent = t('hideUnlikely');
    else toggle.textContent = count === 1 ? t('showUnlikelyOne') : t('showUnlikely', { n: count });
    const notice = $('no-likely');
    notice.hidden = !(count > 0 && likely === 0);
    const label = state.last && state.last.kind === 'image' ? state.last.file.name : response && response.query;
    notice.textContent = notice.hidden ? '' : t(expanded ? 'noLikelyShown' : 'noLikely', { q: label });
  }

  function percent(p) {
    if (p < 0.005) return '<1%';
    if (p > 0.995) return '>99%';
    return `${Math.round(p * 100)}%`;
  }

  function bar(branch, value, scale, shown) {
    const fraction = Math.max(0, Math.min(1, value / scale));
    const text = shown === undefined ? value.toFixed(3) : shown;
    const fill = el('div', { class: 'fill' });
    fill.style.width = `${(fraction * 100).toFixed(1)}%`;
    const track = el('div', {
      class: 'track', role: 'meter', 'aria-valuemin': '0', 'aria-valuemax': '1',
      'aria-valuenow': fraction.toFixed(3), 'aria-label': `${t(branch)} ${text}`,
    }, [fill]);
    return el('div', { class: 'bar', 'data-testid': 'score-bar', 'data-branch': branch }, [
      el('span', { text: t(branch) }), track, el('span', { class: 'num', text }),
    ]);
  }

  function card(hit, top, branches) {
    const item = hit.item;
    const names = (item.meta && item.meta.filename) || (item.paths && item.paths[0]) || item.id;
    const alt = String(names).split(/[\\/]/).pop();
    // The server's URLs: signed (exp, sig) when reads need a token, so that <img> loads without one.
    const thumb = item.thumbnail_url || `/api/items/${encodeURIComponent(hit.id)}/thumbnail`;
    const image = el('img', {
      src: `${thumb}${thumb.includes('?') ? '&' : '?'}size=256`, alt, loading: 'lazy',
    });
    // The matched region (objects search): a box over the thumbnail, in percent of the image's size.
    const frame = el('span', { class: 'frame' }, [image]);
    if (hit.region && item.width > 0 && item.height > 0) {
      const [x0, y0, x1, y1] = hit.region.box;
      const pct = (v, n) => `${(100 * v / n).toFixed(2)}%`;
      const box = el('span', { class: 'region-box', 'data-testid': 'region-box', title: hit.region.label || '' });
      // CSSOM, not a style attribute: the page's CSP allows no inline styles
      Object.assign(box.style, {
        left: pct(x0, item.width), top: pct(y0, item.height),
        width: pct(x1 - x0, item.width), height: pct(y1 - y0, item.height),
      });
      frame.appendChild(box);
    }
    const link = el('a', {
      class: 'thumb', href: item.image_url || `/api/items/${encodeURIComponent(hit.id)}/image`, target: '_blank',
      rel: 'noopener', title: t('openOriginal'),
    }, [frame]);
    // With calibration the fused score is the relevance (a probability): one bar for both, in percent.
    const calibrated = typeof hit.relevance === 'number';
    const unlikely = isUnlikely(hit);
    const first = calibrated ? bar('relevance', hit.relevance, 1, percent(hit.relevance)) : bar('fused', hit.score, top);
    const bars = el('div', { class: 'bars', 'data-testid': 'score-bars' }, [first]);
    for (const branch of branches) {
      if (hit.scores && typeof hit.scores[branch] === 'number') bars.appendChild(bar(branch, hit.scores[branch], 1));
    }
    const chips = el('ul', { class: 'chips', 'data-testid': 'emotion-chips' },
      (item.emotions || []).map((e) => el('li', {
        class: 'chip', 'data-testid': 'emotion-chip', 'data-emotion': e.emotion, title: e.score.toFixed(2),
        text: emotionLabel(e.emotion),
      })));
    // Lines first read in a later frame of an animation say when they show.
    const ocrText = (item.ocr || []).map((line) => (line.time_ms
      ? t('atTime', { t: line.text, s: (line.time_ms / 1000).toFixed(2) }) : line.text)).join(' ');
    const ocr = ocrText ? el('p', { class: 'ocr', 'data-testid': 'ocr-text', text: t('ocr', { t: ocrText }) }) : null;
    // Text a captioner wrote is labelled as such: it is a guess about the picture, not a given caption.
    const gen = hit.generated_caption;
    const generated = gen && gen.captions && gen.captions.length
      ? el('p', {
        class: 'generated', 'data-testid': 'generated-caption', 'data-captioner': gen.captioner.name,
        title: t('generatedTitle', { name: gen.captioner.name, version: gen.captioner.version || '' }),
      }, [
        el('span', { class: 'generated-label', 'data-testid': 'generated-label', text: t('generated', { name: gen.captioner.name }) }),
        el('span', { class: 'generated-text', text: ` “${gen.captions.join('”, “')}”` }),
      ])
      : null;
    const why = hit.why && hit.why.length
      ? el('ul', { class: 'why', 'data-testid': 'explain' }, hit.why.map((w) => el('li', { text: w })))
      : null;
    const meta = el('div', { class: 'meta' }, [
      el('span', { text: t('rank', { n: hit.rank }) }), el('span', { text: t(`media_${item.media}`) }),
    ]);
    if (hit.frame) {  // an animated item scored by its best frame: which one matched
      const vars = { i: hit.frame.index + 1, n: hit.frame.frames };
      const text = typeof hit.frame.time_ms === 'number'
        ? t('frameAt', { ...vars, s: (hit.frame.time_ms / 1000).toFixed(2) }) : t('frameNo', vars);
      meta.appendChild(el('span', { class: 'matched-frame', 'data-testid': 'matched-frame', text }));
    }
    const relevance = calibrated
      ? el('p', {
        class: unlikely ? 'relevance unlikely' : 'relevance likely', 'data-testid': 'relevance',
        'data-relevance': hit.relevance.toFixed(4),
        text: t(unlikely ? 'unlikely' : 'likely', { p: percent(hit.relevance) }),
      })
      : null;
    return el('li', {
      class: unlikely ? 'card unlikely' : 'card', 'data-testid': 'result-card', 'data-id': hit.id,
    }, [link, meta, relevance, bars, chips, ocr, generated, why]);
  }

  // ---- emotion filters -------------------------------------------------------------------------
  function renderFilters() {
    const box = $('emotion-filters');
    box.replaceChildren(...state.emotions.map((entry) => {
      const chip = el('button', {
        type: 'button', class: 'chip', 'data-testid': 'emotion-filter', 'data-emotion': entry.id,
        'aria-pressed': String(state.selected.has(entry.id)), text: emotionLabel(entry.id),
      });
      chip.addEventListener('click', () => {
        if (state.selected.has(entry.id)) state.selected.delete(entry.id);
        else state.selected.add(entry.id);
        chip.setAttribute('aria-pressed', String(state.selected.has(entry.id)));
        runSearch();
      });
      return chip;
    }));
  }

  async function loadEmotions() {
    try {
      const body = await api('/api/emotions');
      state.emotions = body.emotions || [];
      state.emotionById = new Map(state.emotions.map((e) => [e.id, e]));
      renderFilters();
      if (state.response) renderResults(state.response);
    } catch (err) {
      if (err.status !== 401) showError(err.message); // a 401 shows the token field instead
    }
  }

  async function loadInfo() {
    try {
      const body = await api('/api/ready');
      state.items = body.items;
      state.writes = body.writes_enabled;
      state.objects = Boolean(body.objects);
      $('objects-label').hidden = !state.objects;
      if (body.reads_need_token) showAuth(false);
    } catch (err) {
      state.items = null;
    }
    renderInfo();
  }

  function renderInfo() {
    $('index-info').textContent = state.items === null ? '' : t('items', { n: state.items });
    if (!state.writes && !state.uploadNote) $('upload-status').textContent = t('writesDisabled');
  }

  // ---- upload ------------------------------------------------------------------------------------
  function note(key, vars) {
    state.uploadNote = [key, vars];
    $('upload-status').textContent = t(key, vars);
  }

  async function upload(event) {
    event.preventDefault();
    const file = $('upload-file').files[0];
    if (!token()) { note('needToken'); return; }
    if (!file) { note('needFile'); return; }
    saveToken();
    note('uploading');
    const form = new FormData();
    form.append('file', file, file.name);
    try {
      const body = await api('/api/items', {
        method: 'POST', body: form,
      });
      note(body.created ? 'uploaded' : 'duplicate', { name: file.name, id: body.id });
      $('upload-status').dataset.itemId = body.id;
      $('upload-file').value = '';
      loadInfo();
    } catch (err) {
      note('error', { msg: err.message });
    }
  }

  function searchByImage(file) {
    if (!file) return;
    state.last = { kind: 'image', file };
    runSearch();
  }

  // ---- wiring -----------------------------------------------------------------------------------
  function init() {
    $('search-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const q = $('q').value.trim();
      if (!q) { $('q').focus(); return; }
      state.last = { kind: 'text', q };
      runSearch();
    });
    $('media').addEventListener('change', runSearch);
    $('explain').addEventListener('change', runSearch);
    $('unlikely-toggle').addEventListener('click', () => {
      state.showUnlikely = $('unlikely-toggle').getAttribute('aria-expanded') !== 'true';
      renderUnlikely();
    });
    $('lang-toggle').addEventListener('click', () => {
      state.lang = state.lang === 'zh' ? 'en' : 'zh';
      try { localStorage.setItem(LANG_KEY, state.lang); } catch (e) { /* storage disabled */ }
      applyLang();
    });
    $('upload-form').addEventListener('submit', upload);
    $('auth-form').addEventListener('submit', useToken);
    $('image-query').addEventListener('change', (event) => searchByImage(event.target.files[0]));
    const drop = $('drop-zone');
    drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (event) => {
      event.preventDefault();
      drop.classList.remove('over');
      searchByImage(event.dataTransfer.files[0]);
    });
    try { $('token').value = sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { /* storage disabled */ }

    const params = new URLSearchParams(window.location.search);
    for (const id of params.getAll('emotion')) state.selected.add(id);
    if (params.get('media')) $('media').value = params.get('media');
    $('explain').checked = params.get('explain') === 'true';
    applyLang();
    start(params);
  }

  // /api/ready first: it says whether reads need a token, and needs none itself. Without a token on
  // such a server nothing else is asked (no 401s): the token field waits for one.
  async function start(params) {
    await loadInfo();
    if (state.needToken && !token()) {
      if (params.get('q')) $('q').value = params.get('q');
      return;
    }
    loadEmotions();
    if (params.get('q')) {
      $('q').value = params.get('q');
      state.last = { kind: 'text', q: params.get('q') };
      runSearch();
    }
  }

  init();
})();
