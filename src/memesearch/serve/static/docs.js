// memesearch API reference: fetches /openapi.json and builds the page with DOM methods and textContent
// (no innerHTML, no eval, nothing from another origin), so it works offline under the server's strict CSP
// and no text in the description can inject markup. "Try it" sends GET requests to this same server.
(() => {
  'use strict';

  const SPEC_URL = '/openapi.json';
  const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'];
  // JSON-schema keywords shown as constraints: [keyword, label]
  const CONSTRAINTS = [
    ['minimum', 'min'], ['maximum', 'max'], ['exclusiveMinimum', 'greater than'],
    ['exclusiveMaximum', 'less than'], ['multipleOf', 'multiple of'], ['minLength', 'min length'],
    ['maxLength', 'max length'], ['pattern', 'pattern'], ['minItems', 'min items'], ['maxItems', 'max items'],
    ['uniqueItems', 'unique items'], ['default', 'default'],
  ];
  const MAX_SHOWN_CHARS = 200000; // longer answers are cut in the "try it" output

  const $ = (id) => document.getElementById(id);
  let spec = null;

  // ------------------------------------------------------------------------------------------ DOM helpers

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === 'text') node.textContent = String(value);
      else if (name === 'class') node.className = value;
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children || []) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // Text with `code` and ``code`` spans (as in the API's descriptions) as inline nodes.
  function inline(text) {
    const frag = document.createDocumentFragment();
    String(text || '').split(/(``[^`]+``|`[^`]+`)/).forEach((part, i) => {
      if (!part) return;
      if (i % 2 === 1) frag.append(el('code', { text: part.replace(/^`+|`+$/g, '') }));
      else frag.append(part);
    });
    return frag;
  }

  // Paragraphs (split on blank lines) of inline text.
  function paragraphs(text, cls) {
    const box = el('div', { class: cls || 'description' });
    for (const para of String(text || '').split(/\n\s*\n/)) {
      if (para.trim()) box.append(el('p', {}, [inline(para.trim())]));
    }
    return box;
  }

  function slug(text) {
    return String(text).replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '') || 'x';
  }

  // ------------------------------------------------------------------------------------- schema helpers

  // Follow a local JSON pointer ('#/components/schemas/Name'); null when it names nothing.
  function lookup(ref) {
    if (typeof ref !== 'string' || !ref.startsWith('#/')) return null;
    let node = spec;
    for (const raw of ref.slice(2).split('/')) {
      const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      if (node === null || typeof node !== 'object' || !(key in node)) return null;
      node = node[key];
    }
    return node;
  }

  function refName(ref) {
    return String(ref).split('/').pop();
  }

  // The schema behind any chain of $refs (guarding against cycles); unresolvable refs give {}.
  function resolve(schema) {
    const seen = new Set();
    let current = schema || {};
    while (current && typeof current.$ref === 'string') {
      if (seen.has(current.$ref)) return {};
      seen.add(current.$ref);
      current = lookup(current.$ref) || {};
    }
    return current || {};
  }

  // Members of anyOf/oneOf that are not just "null", and whether null is allowed.
  function variants(schema) {
    const members = schema.anyOf || schema.oneOf || [];
    const real = members.filter((m) => !(m && m.type === 'null'));
    return { real, nullable: real.length < members.length };
  }

  // A node naming the schema's type: 'integer', 'array of string', a link to a named schema, ...
  function typeNode(schema) {
    const frag = document.createDocumentFragment();
    if (!schema || typeof schema !== 'object') {
      frag.append('any');
      return frag;
    }
    if (typeof schema.$ref === 'string') {
      const name = refName(schema.$ref);
      if (lookup(schema.$ref) !== null && schema.$ref.startsWith('#/components/schemas/')) {
        frag.append(el('a', { href: '#schema-' + slug(name), class: 'schema-ref', text: name }));
      } else {
        frag.append(el('span', { class: 'unresolved', title: 'unresolved reference', text: schema.$ref }));
      }
      return frag;
    }
    if (schema.anyOf || schema.oneOf) {
      const { real, nullable } = variants(schema);
      real.forEach((member, i) => {
        if (i) frag.append(' | ');
        frag.append(typeNode(member));
      });
      if (nullable) frag.append(real.length ? ' | null' : 'null');
      return frag;
    }
    if (Array.isArray(schema.allOf)) {
      schema.allOf.forEach((member, i) => {
        if (i) frag.append(' & ');
        frag.append(typeNode(member));
      });
      return frag;
    }
    if ('const' in schema) {
      frag.append('constant ' + JSON.stringify(schema.const));
      return frag;
    }
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    types.forEach((type, i) => {
      if (i) frag.append(' | ');
      if (type === 'array') {
        frag.append('array of ');
        frag.append(typeNode(schema.items));
      } else if (type === 'object' || (type === undefined && schema.properties)) {
        const extra = schema.additionalProperties;
        if (!schema.properties && extra && typeof extra === 'object') {
          frag.append('map of string → ');
          frag.append(typeNode(extra));
        } else {
          frag.append('object');
        }
      } else if (type === undefined) {
        frag.append('any');
      } else {
        frag.append(String(type) + (schema.format ? ` (${schema.format})` : ''));
      }
    });
    return frag;
  }

  // ['min: 1', 'max: 200', 'default: 20', 'one of: a, b'] from the schema (and its non-null variants).
  function constraintsOf(schema) {
    const out = [];
    const sources = [schema, ...variants(schema).real.map(resolve)];
    for (const source of sources) {
      if (!source || typeof source !== 'object') continue;
      for (const [key, label] of CONSTRAINTS) {
        if (key in source && !(key === 'default' && source.default === null)) {
          out.push(`${label}: ${JSON.stringify(source[key])}`);
        }
      }
      if (Array.isArray(source.enum)) out.push('one of: ' + source.enum.map((v) => JSON.stringify(v)).join(', '));
    }
    return [...new Set(out)];
  }

  function constraintsNode(schema) {
    const items = constraintsOf(schema || {});
    if (!items.length) return null;
    return el('span', { class: 'constraints', 'data-testid': 'constraints' },
      items.map((text) => el('span', { class: 'chip constraint', text })));
  }

  // A table of an object schema's fields (the schema's $ref resolved), or its type when not an object.
  function fieldsTable(schema) {
    const resolved = resolve(schema);
    const props = resolved.properties;
    if (!props || typeof props !== 'object' || !Object.keys(props).length) {
      return el('p', { class: 'type-line' }, ['Type: ', typeNode(schema)]);
    }
    const required = new Set(resolved.required || []);
    const rows = Object.entries(props).map(([name, prop]) => {
      const field = resolve(prop);
      return el('tr', { 'data-testid': 'field', 'data-name': name }, [
        el('td', {}, [el('code', { text: name })]),
        el('td', {}, [typeNode(prop)]),
        el('td', { class: required.has(name) ? 'req' : 'opt', text: required.has(name) ? 'required' : 'optional' }),
        el('td', {}, [inline((prop && prop.description) || field.description || ''), constraintsNode(prop)]),
      ]);
    });
    const table = el('table', { class: 'fields' }, [
      el('thead', {}, [el('tr', {}, ['Field', 'Type', 'Required', 'Description'].map((h) => el('th', { text: h })))]),
      el('tbody', {}, rows),
    ]);
    const box = el('div', { class: 'table-wrap' }, [table]);
    if (resolved.additionalProperties === true) {
      box.append(el('p', { class: 'note', text: 'Other fields may appear as well.' }));
    }
    return box;
  }

  // ----------------------------------------------------------------------------------------- operations

  function operationParameters(pathItem, op) {
    // path-level parameters apply to every operation; the operation's own override them (name + in)
    const byKey = new Map();
    for (const raw of [...(pathItem.parameters || []), ...(op.parameters || [])]) {
      const param = resolve(raw);
      if (param && param.name) byKey.set(`${param.in}:${param.name}`, param);
    }
    return [...byKey.values()];
  }

  function securityNote(op) {
    const requirements = op.security !== undefined ? op.security : spec.security;
    if (!Array.isArray(requirements) || !requirements.length) return null;
    const schemes = (spec.components && spec.components.securitySchemes) || {};
    const names = requirements.flatMap((req) => Object.keys(req || {}));
    if (!names.length) return null;
    // an empty requirement ({}) among them: the token is optional (reads on a server without --auth-reads)
    const optional = requirements.some((req) => !req || !Object.keys(req).length);
    const parts = names.map((name) => {
      const scheme = schemes[name] || {};
      if (scheme.type === 'http' && String(scheme.scheme).toLowerCase() === 'bearer') {
        return 'Authorization: Bearer TOKEN';
      }
      if (scheme.type === 'apiKey') return `${scheme.in} ${scheme.name}`;
      return name;
    });
    return el('p', { class: 'security', 'data-testid': 'security' }, [
      el('span', { class: 'chip lock', text: optional ? 'auth optional' : 'auth' }),
      optional ? ' Accepts ' : ' Needs ', el('code', { text: [...new Set(parts)].join(' or ') }),
    ]);
  }

  function parametersBlock(params) {
    if (!params.length) return null;
    const rows = params.map((param) => {
      const schema = param.schema || {};
      const description = param.description || resolve(schema).description || '';
      return el('tr', { 'data-testid': 'param', 'data-name': param.name, 'data-in': param.in }, [
        el('td', {}, [el('code', { text: param.name })]),
        el('td', { text: param.in }),
        el('td', {}, [typeNode(schema)]),
        el('td', { class: param.required ? 'req' : 'opt', text: param.required ? 'required' : 'optional' }),
        el('td', {}, [inline(description), constraintsNode(schema),
          param.deprecated ? el('span', { class: 'chip deprecated', text: 'deprecated' }) : null]),
      ]);
    });
    return el('div', { class: 'block' }, [
      el('h4', { text: 'Parameters' }),
      el('div', { class: 'table-wrap' }, [el('table', { class: 'params' }, [
        el('thead', {}, [el('tr', {}, ['Name', 'In', 'Type', 'Required', 'Description'].map((h) => el('th', { text: h })))]),
        el('tbody', {}, rows),
      ])]),
    ]);
  }

  function requestBodyBlock(op) {
    if (!op.requestBody) return null;
    const body = resolve(op.requestBody);
    const block = el('div', { class: 'block', 'data-testid': 'request-body' }, [
      el('h4', {}, ['Request body ', el('span', { class: body.required ? 'req' : 'opt', text: body.required ? '(required)' : '(optional)' })]),
      body.description ? paragraphs(body.description) : null,
    ]);
    for (const [ctype, media] of Object.entries(body.content || {})) {
      block.append(el('div', { class: 'content-type', 'data-testid': 'request-content', 'data-type': ctype }, [
        el('p', {}, [el('code', { text: ctype })]),
        fieldsTable((media && media.schema) || {}),
      ]));
    }
    return block;
  }

  function responsesBlock(op) {
    const entries = Object.entries(op.responses || {});
    if (!entries.length) return null;
    const rows = entries.map(([status, raw]) => {
      const response = resolve(raw);
      const content = el('td', {});
      for (const [ctype, media] of Object.entries(response.content || {})) {
        const line = el('div', { class: 'content-line' }, [el('code', { text: ctype })]);
        if (media && media.schema) {
          line.append(' → ', typeNode(media.schema));
          const target = resolve(media.schema);
          if (target.properties) {
            line.append(el('details', { class: 'expand' }, [el('summary', { text: 'fields' }), fieldsTable(media.schema)]));
          }
        }
        content.append(line);
      }
      const cls = /^2/.test(status) ? 'ok' : /^[45]/.test(status) ? 'bad' : 'other';
      return el('tr', { 'data-testid': 'response', 'data-status': status }, [
        el('td', {}, [el('span', { class: `status-code ${cls}`, text: status })]),
        el('td', {}, [inline(response.description || '')]),
        content,
      ]);
    });
    return el('div', { class: 'block' }, [
      el('h4', { text: 'Responses' }),
      el('div', { class: 'table-wrap' }, [el('table', { class: 'responses' }, [
        el('thead', {}, [el('tr', {}, ['Status', 'Description', 'Content'].map((h) => el('th', { text: h })))]),
        el('tbody', {}, rows),
      ])]),
    ]);
  }

  function operationId(method, path, op) {
    return 'op-' + slug(op.operationId || `${method}-${path}`);
  }

  function renderOperation(path, method, pathItem, op) {
    const params = operationParameters(pathItem, op);
    return el('section', {
      class: 'op', id: operationId(method, path, op), 'data-testid': 'operation', 'data-method': method, 'data-path': path,
    }, [
      el('h3', { class: 'op-title', 'data-testid': 'op-title' }, [
        el('span', { class: `method method-${method}`, text: method.toUpperCase() }), ' ',
        el('code', { class: 'path', text: path }),
        op.deprecated ? el('span', { class: 'chip deprecated', text: 'deprecated' }) : null,
      ]),
      op.summary ? el('p', { class: 'summary', 'data-testid': 'op-summary', text: op.summary }) : null,
      op.description ? paragraphs(op.description) : null,
      securityNote(op),
      parametersBlock(params),
      requestBodyBlock(op),
      responsesBlock(op),
      method === 'get' ? tryIt(path, params) : null,
    ]);
  }

  // ------------------------------------------------------------------------------------------- try it

  function tryInput(param) {
    const schema = resolve(param.schema || {});
    const main = variants(schema).real.map(resolve)[0] || schema;
    const type = main.type;
    const attrs = { name: param.name, 'data-testid': 'try-param', 'data-name': param.name };
    if (type === 'boolean') {
      const select = el('select', attrs, [
        el('option', { value: '', text: '(not set)' }), el('option', { value: 'true', text: 'true' }),
        el('option', { value: 'false', text: 'false' }),
      ]);
      return select;
    }
    const input = el('input', { ...attrs, type: type === 'integer' || type === 'number' ? 'number' : 'text' });
    if (type === 'integer') input.step = '1';
    if (type === 'integer' || type === 'number') {
      if ('minimum' in main) input.min = String(main.minimum);
      if ('maximum' in main) input.max = String(main.maximum);
    }
    if (param.required && param.in === 'path') input.required = true;
    let hint = '';
    if (type === 'array') hint = 'comma-separated';
    else if (main.default !== undefined && main.default !== null) hint = `default ${JSON.stringify(main.default)}`;
    if (hint) input.placeholder = hint;
    return input;
  }

  function tryIt(path, params) {
    const sendable = params.filter((p) => p.in === 'path' || p.in === 'query');
    const skipped = params.filter((p) => !sendable.includes(p));
    const inputs = new Map();
    const form = el('form', { class: 'try-form', 'data-testid': 'try-form', novalidate: true });
    for (const param of sendable) {
      const input = tryInput(param);
      inputs.set(param, input);
      form.append(el('label', {}, [
        el('span', {}, [el('code', { text: param.name }), param.required ? el('span', { class: 'req', text: ' *' }) : null,
          el('span', { class: 'muted', text: ` (${param.in})` })]),
        input,
      ]));
    }
    form.append(el('button', { type: 'submit', 'data-testid': 'try-send', text: 'Send' }));
    const url = el('p', { class: 'try-url', 'data-testid': 'try-url' });
    const status = el('p', { class: 'status', role: 'status', 'aria-live': 'polite', 'data-testid': 'try-status' });
    const output = el('pre', { class: 'try-output', 'data-testid': 'try-output', tabindex: '0', hidden: true });
    const image = el('img', { class: 'try-image', 'data-testid': 'try-image', alt: 'Response image', hidden: true });
    let objectUrl = null;

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      let target = path;
      const query = new URLSearchParams();
      for (const [param, input] of inputs) {
        const value = input.value.trim();
        if (param.in === 'path') {
          if (!value) {
            status.textContent = `Fill in the path parameter “${param.name}”.`;
            input.focus();
            return;
          }
          target = target.split(`{${param.name}}`).join(encodeURIComponent(value));
        } else if (value) {
          const type = resolve(param.schema || {});
          const isArray = type.type === 'array' || variants(type).real.some((m) => resolve(m).type === 'array');
          const values = isArray ? value.split(',').map((v) => v.trim()).filter(Boolean) : [value];
          for (const v of values) query.append(param.name, v);
        }
      }
      const qs = query.toString();
      if (qs) target += '?' + qs;
      url.replaceChildren('GET ', el('a', { href: target, text: target }));
      status.textContent = 'Sending…';
      output.hidden = true;
      image.hidden = true;
      if (objectUrl) { URL.revokeObjectURL(objectUrl); objectUrl = null; }
      const started = performance.now();
      let response;
      try {
        response = await fetch(target, { headers: { Accept: 'application/json, */*' } });
      } catch (err) {
        status.textContent = `Cannot reach the server (${err && err.message ? err.message : err}).`;
        return;
      }
      const ms = Math.round(performance.now() - started);
      const ctype = response.headers.get('content-type') || '';
      status.textContent = `${response.status} ${response.statusText} · ${ctype || 'no content type'} · ${ms} ms`;
      status.dataset.status = String(response.status);
      try {
        if (ctype.startsWith('image/')) {
          const blob = await response.blob();
          objectUrl = URL.createObjectURL(blob);
          image.src = objectUrl;
          image.hidden = false;
          output.textContent = `(${blob.size} bytes of ${ctype})`;
        } else {
          const text = await response.text();
          let shown = text;
          if (ctype.includes('json')) {
            try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* show it as sent */ }
          }
          if (shown.length > MAX_SHOWN_CHARS) shown = shown.slice(0, MAX_SHOWN_CHARS) + '\n… (cut)';
          output.textContent = shown || '(empty body)';
        }
        output.hidden = false;
      } catch (err) {
        status.textContent += ` · could not read the body (${err && err.message ? err.message : err})`;
      }
    });

    return el('details', { class: 'try', 'data-testid': 'try-it' }, [
      el('summary', { 'data-testid': 'try-toggle', text: 'Try it' }),
      skipped.length
        ? el('p', { class: 'note', text: 'Not sent by this form: ' + skipped.map((p) => `${p.name} (${p.in})`).join(', ') })
        : null,
      form, url, status, output, image,
    ]);
  }

  // ------------------------------------------------------------------------------------------- schemas

  function renderSchema(name, schema) {
    return el('section', { class: 'schema', id: 'schema-' + slug(name), 'data-testid': 'schema', 'data-name': name }, [
      el('h3', {}, [el('code', { text: name })]),
      schema.description ? paragraphs(schema.description) : null,
      fieldsTable(schema),
    ]);
  }

  // ---------------------------------------------------------------------------------------------- page

  function operationsByTag() {
    const declared = (spec.tags || []).map((t) => t.name);
    const groups = new Map(declared.map((name) => [name, []]));
    for (const [path, pathItem] of Object.entries(spec.paths || {})) {
      for (const method of METHODS) {
        const op = pathItem && pathItem[method];
        if (!op) continue;
        const tag = (op.tags && op.tags[0]) || 'other';
        if (!groups.has(tag)) groups.set(tag, []);
        groups.get(tag).push({ path, method, pathItem, op });
      }
    }
    return [...groups.entries()].filter(([, ops]) => ops.length);
  }

  function render() {
    const info = spec.info || {};
    document.title = `${info.title || 'API'} ${info.version || ''} · API reference`;
    $('api-title').textContent = `${info.title || 'API'} API`;
    $('api-summary').textContent = info.summary || 'API reference';

    const intro = $('api-intro');
    intro.replaceChildren(
      el('p', { class: 'muted', 'data-testid': 'api-version' },
        [`API version ${info.version || '?'} · OpenAPI ${spec.openapi || '?'} · `, el('a', { href: SPEC_URL, text: SPEC_URL })]),
      info.description ? paragraphs(info.description) : '',
    );
    const schemes = Object.entries((spec.components && spec.components.securitySchemes) || {});
    if (schemes.length) {
      intro.append(el('div', { class: 'auth' }, [el('h2', { text: 'Authentication' }), el('ul', {}, schemes.map(([name, s]) =>
        el('li', {}, [el('code', { text: name }), ` (${[s.type, s.scheme].filter(Boolean).join(' ')})`,
          s.description ? ': ' : '', inline(s.description || '')])))]));
    }

    const toc = $('toc');
    const tocList = el('ul', {});
    const ops = $('operations');
    ops.replaceChildren();
    const tagInfo = new Map((spec.tags || []).map((t) => [t.name, t]));
    let count = 0;
    for (const [tag, items] of operationsByTag()) {
      const tagId = 'tag-' + slug(tag);
      const section = el('section', { class: 'tag', id: tagId, 'data-testid': 'tag', 'data-tag': tag }, [
        el('h2', { text: tag }),
        tagInfo.has(tag) && tagInfo.get(tag).description ? paragraphs(tagInfo.get(tag).description) : null,
      ]);
      const sub = el('ul', {});
      for (const { path, method, pathItem, op } of items) {
        section.append(renderOperation(path, method, pathItem, op));
        sub.append(el('li', {}, [el('a', { href: '#' + operationId(method, path, op) }, [
          el('span', { class: `method method-${method}`, text: method.toUpperCase() }), ' ', el('code', { text: path }),
        ])]));
        count += 1;
      }
      ops.append(section);
      tocList.append(el('li', {}, [el('a', { href: '#' + tagId, text: tag }), sub]));
    }

    const schemas = Object.entries((spec.components && spec.components.schemas) || {})
      .sort(([a], [b]) => a.localeCompare(b));
    const list = $('schema-list');
    list.replaceChildren(...schemas.map(([name, schema]) => renderSchema(name, schema || {})));
    $('schemas').hidden = !schemas.length;
    if (schemas.length) tocList.append(el('li', {}, [el('a', { href: '#schemas', text: 'Schemas' })]));
    toc.replaceChildren(el('h2', { class: 'sr-only', text: 'Contents' }), tocList);

    const status = $('docs-status');
    status.textContent = `${count} operations, ${schemas.length} schemas.`;
    status.dataset.ready = 'true';
    // the page is built after load: honour a #fragment in the address now that its target exists
    if (location.hash.length > 1) {
      const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
      if (target) target.scrollIntoView();
    }
  }

  function showError(message) {
    const box = $('docs-error');
    box.textContent = message;
    box.hidden = false;
    $('docs-status').textContent = '';
  }

  async function load() {
    let response;
    try {
      response = await fetch(SPEC_URL, { headers: { Accept: 'application/json' } });
    } catch (err) {
      showError(`Cannot reach the server to read ${SPEC_URL} (${err && err.message ? err.message : err}).`);
      return;
    }
    if (!response.ok) {
      showError(`${SPEC_URL} answered ${response.status} ${response.statusText}: the server did not give its API description.`);
      return;
    }
    try {
      spec = await response.json();
    } catch (err) {
      showError(`${SPEC_URL} is not valid JSON (${err && err.message ? err.message : err}).`);
      return;
    }
    if (!spec || typeof spec !== 'object' || typeof spec.paths !== 'object') {
      showError(`${SPEC_URL} has no "paths": it is not an OpenAPI description.`);
      return;
    }
    render();
  }

  load();
})();
