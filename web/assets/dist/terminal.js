// Janus terminal page: xterm.js panes over /ws/terminal, the namespace tabs, the pod picker, the
// logs and events sidebar and quick commands. The wire contract is docs/terminal-protocol.md:
// binary frames carry terminal bytes only (everything typed or pasted, quick commands included);
// text frames carry typed control messages ({"v":1,"type":…}).
// Plain script, no bundler; every authorization decision is the server's.
'use strict';

// xterm.js's DOM renderer creates <style> elements; the page's Content-Security-Policy allows
// them only with this response's nonce, which is stamped on each one as it is created. This runs
// before any terminal is opened.
(function stampStyleNonce() {
  const nonce = document.currentScript ? document.currentScript.nonce : '';
  if (!nonce) return;
  const createElement = Document.prototype.createElement;
  Document.prototype.createElement = function (name, options) {
    const element = createElement.call(this, name, options);
    if (String(name).toLowerCase() === 'style') element.setAttribute('nonce', nonce);
    return element;
  };
})();

document.addEventListener('DOMContentLoaded', function () {
  const root = document.getElementById('terminal');
  if (!root || typeof Terminal === 'undefined' || typeof FitAddon === 'undefined') return;

  const requestId = root.dataset.request;
  const namespaces = JSON.parse(root.dataset.namespaces || '[]');
  const watch = root.dataset.watch || '';
  const api = '/api/v1/requests/' + encodeURIComponent(requestId) + '/terminal/';
  const encoder = new TextEncoder();
  const panes = [];
  let focused = null;

  const CLOSED_TEXT = {
    user: 'The session was closed.',
    exit: 'The shell exited.',
    idle: 'The session was closed after a period without input.',
    revoked: 'Access was revoked.',
    expired: 'Access expired.',
    error: 'The session ended with an error.',
  };
  const DIAGNOSTIC_TITLE = {
    RBAC_DENIED: 'Kubernetes refused this with the permissions of your grant.',
    TOKEN_NOT_READY: 'The agent holds no live token for this request yet (or any more).',
    NOT_FOUND: 'Kubernetes does not know this object.',
    UNREACHABLE: 'The agent could not reach the Kubernetes API server.',
    TLS: 'The TLS connection to the Kubernetes API server failed.',
    TIMEOUT: 'Kubernetes did not answer in time.',
    INTERNAL: 'Something unexpected went wrong.',
  };
  const WARNING_BADGE = /Not ready|CrashLoopBackOff|OOMKilled|Error|BackOff|Restarts|Evicted|Failed|Unknown|Pending|ContainerCreating|Err/;

  // ---- small helpers -------------------------------------------------------------------------

  function el(tag, attributes, text) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) element.setAttribute(name, value);
    if (text !== undefined && text !== null) element.textContent = String(text);
    return element;
  }

  function problemOf(status, body) {
    const error = (body && body.error) || {};
    return {
      code: error.code || 'http_' + status,
      message: error.message || 'Janus answered with status ' + status + '; try again.',
      diagnostic: error.diagnostic || null,
    };
  }

  async function request(url, accept) {
    let response;
    try {
      response = await fetch(url, { credentials: 'same-origin', headers: { Accept: accept } });
    } catch (_) {
      throw { code: 'offline', message: 'Janus could not be reached; check your connection and try again.' };
    }
    if (response.ok) return response;
    let body = null;
    try { body = await response.json(); } catch (_) { /* not JSON */ }
    throw problemOf(response.status, body);
  }

  async function getJson(url) {
    return (await request(url, 'application/json')).json();
  }

  function diagnosticBlock(diagnostic) {
    const block = el('div', { class: 'diagnostic', role: 'alert', 'data-code': diagnostic.code || '' });
    block.append(el('p', { class: 'diagnostic-title' },
      DIAGNOSTIC_TITLE[diagnostic.code] || 'Kubernetes reported a problem.'));
    const list = el('dl');
    const rows = [
      ['Action', diagnostic.action], ['Cluster', diagnostic.cluster], ['Namespace', diagnostic.namespace],
      ['Pod', diagnostic.pod], ['Code', diagnostic.code],
      ['Retryable', diagnostic.retryable ? 'yes — try again' : 'no'], ['Message', diagnostic.message],
    ];
    for (const [label, value] of rows) {
      const row = el('div', { 'data-field': label.toLowerCase() });
      row.append(el('dt', {}, label), el('dd', {}, value === undefined || value === null || value === '' ? '—' : value));
      list.append(row);
    }
    block.append(list);
    return block;
  }

  function showProblem(container, problem) {
    container.replaceChildren();
    if (!problem) return;
    if (problem.diagnostic) container.append(diagnosticBlock(problem.diagnostic));
    else container.append(el('p', { class: 'flash flash-error', role: 'alert', 'data-code': problem.code || '' }, problem.message));
  }

  function badge(text) {
    return el('span', { class: WARNING_BADGE.test(text) ? 'badge badge-warn' : 'badge', 'data-badge': text }, text);
  }

  // ---- panes ---------------------------------------------------------------------------------

  function createPane() {
    const template = document.getElementById('pane-template');
    const node = template.content.firstElementChild.cloneNode(true);
    const index = panes.length;
    node.id = 'pane-' + index;
    node.dataset.pane = String(index);
    document.getElementById('panes').append(node);
    const term = new Terminal({
      cursorBlink: true,
      scrollback: 5000,
      fontSize: 14,
      fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
      disableStdin: Boolean(watch),
    });
    const fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(node.querySelector('.xterm-host'));
    const pane = {
      index, node, term, fit,
      socket: null, ping: 0, closedShown: false,
      namespace: (focused && focused.namespace) || namespaces[0] || '',
      pods: [], pod: '', container: '',
      podSelect: node.querySelector('.pod-select'),
      containerSelect: node.querySelector('.container-select'),
      connectButton: node.querySelector('.connect'),
      closeButton: node.querySelector('.close-pane'),
      badges: node.querySelector('.badges'),
      status: node.querySelector('.pane-status'),
      problem: node.querySelector('.pane-problem'),
      closed: node.querySelector('.term-closed'),
      label: node.querySelector('.pane-namespace'),
    };
    panes.push(pane);
    if (watch) node.classList.add('watching');
    node.addEventListener('focusin', () => focus(pane));
    node.addEventListener('pointerdown', () => focus(pane));
    term.onData((data) => sendInput(pane, encoder.encode(data)));
    term.onBinary((data) => sendInput(pane, Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
    term.onResize(({ cols, rows }) => sendControl(pane, { v: 1, type: 'resize', cols, rows }));
    new ResizeObserver(() => refit(pane)).observe(node.querySelector('.xterm-host'));
    pane.podSelect.addEventListener('change', () => selectPod(pane, pane.podSelect.value));
    pane.containerSelect.addEventListener('change', () => {
      pane.container = pane.containerSelect.value;
      refreshSidebar();
    });
    pane.connectButton.addEventListener('click', () => connect(pane));
    pane.closeButton.addEventListener('click', () => closePane(pane));
    refit(pane);
    return pane;
  }

  function refit(pane) {
    try { pane.fit.fit(); } catch (_) { /* not visible yet */ }
  }

  function setStatus(pane, text) {
    pane.status.textContent = text;
  }

  function sendInput(pane, bytes) {
    if (watch || !pane.socket || pane.socket.readyState !== WebSocket.OPEN) return false;
    pane.socket.send(bytes);
    return true;
  }

  function sendControl(pane, message) {
    if (pane.socket && pane.socket.readyState === WebSocket.OPEN) pane.socket.send(JSON.stringify(message));
  }

  function disconnect(pane) {
    const socket = pane.socket;
    pane.socket = null;
    clearInterval(pane.ping);
    if (socket) socket.close(1000);
  }

  function connect(pane) {
    disconnect(pane);
    refit(pane);
    pane.term.reset();
    pane.closed.hidden = true;
    pane.closed.textContent = '';
    pane.closedShown = false;
    showProblem(pane.problem, null);
    const params = new URLSearchParams();
    if (watch) {
      params.set('watch', watch);
    } else {
      if (!pane.pod) return;
      params.set('request', requestId);
      params.set('namespace', pane.namespace);
      params.set('pod', pane.pod);
      if (pane.container) params.set('container', pane.container);
    }
    params.set('cols', String(pane.term.cols));
    params.set('rows', String(pane.term.rows));
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(scheme + '//' + location.host + '/ws/terminal?' + params.toString());
    socket.binaryType = 'arraybuffer';
    pane.socket = socket;
    setStatus(pane, 'Connecting…');
    socket.addEventListener('open', () => {
      if (pane.socket !== socket) return;
      setStatus(pane, 'Opening the shell…');
      pane.ping = setInterval(() => sendControl(pane, { v: 1, type: 'ping' }), 25000);
    });
    socket.addEventListener('message', (event) => {
      if (pane.socket !== socket) return;
      if (typeof event.data === 'string') control(pane, event.data);
      else pane.term.write(new Uint8Array(event.data));
    });
    socket.addEventListener('close', (event) => {
      if (pane.socket !== socket) return;
      pane.socket = null;
      clearInterval(pane.ping);
      if (!pane.closedShown) {
        showClosed(pane, 'error', event.code === 1006
          ? 'The terminal could not be opened or the connection to Janus was lost; reload the page to try again.'
          : 'The session ended.');
      }
    });
  }

  function control(pane, text) {
    let message;
    try { message = JSON.parse(text); } catch (_) { return; }
    if (!message || message.v !== 1) return;
    switch (message.type) {
      case 'ready':
        pane.session = message.session || '';
        setStatus(pane, watch ? 'Watching (read-only)' : 'Connected' + (message.shell ? ' · ' + message.shell : ''));
        if (!watch) pane.term.focus();
        break;
      case 'exit':
        setStatus(pane, 'The shell exited with code ' + message.code + '.');
        break;
      case 'closed':
        showClosed(pane, message.reason || 'error', message.message);
        break;
      case 'error':
        if (message.diagnostic) showProblem(pane.problem, { diagnostic: message.diagnostic });
        break;
      default:
        break; // pong, and types this page does not know
    }
  }

  function showClosed(pane, reason, text) {
    const shown = text || CLOSED_TEXT[reason] || CLOSED_TEXT.error;
    pane.closedShown = true;
    pane.closed.dataset.reason = reason;
    pane.closed.dataset.at = String(Date.now());
    pane.closed.textContent = shown;
    pane.closed.hidden = false;
    pane.node.classList.add('ended');
    setStatus(pane, 'Closed');
    // Also in the terminal itself, without any control characters from the message.
    pane.term.write('\r\n\x1b[1;31m[' + shown.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ') + ']\x1b[0m\r\n');
    if (reason === 'revoked' || reason === 'expired') {
      for (const other of panes) other.connectButton.disabled = true;
      document.querySelectorAll('.quick-command-button').forEach((button) => { button.disabled = true; });
    }
  }

  function closePane(pane) {
    disconnect(pane);
    pane.term.dispose();
    pane.node.remove();
    panes.splice(panes.indexOf(pane), 1);
    focus(panes[0]);
    const split = document.getElementById('split');
    if (split) {
      split.setAttribute('aria-pressed', 'false');
      split.textContent = 'Split';
    }
  }

  function focus(pane) {
    if (!pane || focused === pane) return;
    focused = pane;
    for (const other of panes) other.node.classList.toggle('focused', other === pane);
    for (const tab of document.querySelectorAll('.ns-tab')) {
      tab.setAttribute('aria-selected', tab.dataset.namespace === pane.namespace ? 'true' : 'false');
    }
    refreshSidebar();
  }

  // ---- pods ----------------------------------------------------------------------------------

  async function loadPods(pane, autoConnect) {
    // As in the sidebar: each load bumps the pane's counter, and the answer to an older load (a
    // namespace tab switched away from meanwhile) is dropped.
    const load = (pane.podLoads = (pane.podLoads || 0) + 1);
    pane.label.textContent = pane.namespace;
    pane.podSelect.replaceChildren(el('option', { value: '' }, 'Loading…'));
    let pods = [];
    let failed = false;
    let problem = null;
    try {
      const body = await getJson(api + 'pods?namespace=' + encodeURIComponent(pane.namespace));
      pods = body.items || [];
    } catch (error) {
      failed = true;
      problem = error;
    }
    if (load !== pane.podLoads) return;
    showProblem(pane.problem, problem);
    pane.pods = pods;
    pane.podSelect.replaceChildren();
    if (!pods.length) {
      pane.podSelect.append(el('option', { value: '' }, failed ? 'Pods could not be listed' : 'No pods in ' + pane.namespace));
    }
    for (const pod of pods) {
      const notes = [pod.phase].concat(pod.badges || []).filter(Boolean).join(', ');
      pane.podSelect.append(el('option', { value: pod.name }, pod.name + (notes ? ' (' + notes + ')' : '')));
    }
    const keep = pods.find((pod) => pod.name === pane.pod);
    const running = pods.find((pod) => pod.phase === 'Running' && pod.ready) || pods.find((pod) => pod.phase === 'Running');
    const chosen = keep || running || pods[0];
    selectPod(pane, chosen ? chosen.name : '');
    if (autoConnect && chosen && !pane.socket) connect(pane);
  }

  function selectPod(pane, name) {
    const pod = pane.pods.find((candidate) => candidate.name === name);
    pane.pod = pod ? pod.name : '';
    pane.podSelect.value = pane.pod;
    pane.containerSelect.replaceChildren();
    pane.badges.replaceChildren();
    const containers = pod ? pod.containers || [] : [];
    for (const container of containers) {
      const notes = [container.state, container.reason].filter(Boolean).join(', ');
      pane.containerSelect.append(el('option', { value: container.name }, container.name + (notes ? ' (' + notes + ')' : '')));
    }
    const keep = containers.find((container) => container.name === pane.container);
    pane.container = keep ? keep.name : (containers[0] ? containers[0].name : '');
    pane.containerSelect.value = pane.container;
    pane.containerSelect.disabled = containers.length < 2;
    pane.connectButton.disabled = !pod;
    if (pod) {
      pane.badges.append(badge(pod.ready ? 'Ready' : 'Not ready'));
      for (const text of pod.badges || []) pane.badges.append(badge(text));
    }
    if (pane === focused) refreshSidebar();
  }

  // ---- namespace tabs and split --------------------------------------------------------------

  for (const tab of document.querySelectorAll('.ns-tab')) {
    tab.addEventListener('click', () => {
      const pane = focused;
      if (!pane) return;
      pane.namespace = tab.dataset.namespace;
      for (const other of document.querySelectorAll('.ns-tab')) {
        other.setAttribute('aria-selected', other === tab ? 'true' : 'false');
      }
      // A pane keeps its open shell until Connect is pressed; an idle one connects at once.
      loadPods(pane, !pane.socket);
    });
  }

  const split = document.getElementById('split');
  if (split) {
    split.addEventListener('click', () => {
      if (panes.length > 1) {
        closePane(panes[1]);
        return;
      }
      const pane = createPane();
      pane.closeButton.hidden = false;
      split.setAttribute('aria-pressed', 'true');
      split.textContent = 'Unsplit';
      for (const other of panes) refit(other);
      focus(pane);
      loadPods(pane, true);
    });
  }

  const toggle = document.getElementById('toggle-sidebar');
  const sidebar = document.getElementById('sidebar');
  toggle.addEventListener('click', () => {
    sidebar.hidden = !sidebar.hidden;
    toggle.setAttribute('aria-expanded', sidebar.hidden ? 'false' : 'true');
    for (const pane of panes) refit(pane);
  });

  // ---- logs and events -----------------------------------------------------------------------

  const logs = document.getElementById('logs');
  const logsTarget = document.getElementById('logs-target');
  const logsProblem = document.getElementById('logs-problem');
  const logsTail = document.getElementById('logs-tail');
  const logsFollow = document.getElementById('logs-follow');
  const events = document.getElementById('events');
  const eventsProblem = document.getElementById('events-problem');
  const MAX_LOG_CHARS = 1000000;
  let logSource = null;
  let sidebarKey = '';
  // Each load bumps its counter; an answer to an older load is dropped.
  let logsLoad = 0;
  let eventsLoad = 0;

  function refreshSidebar(force) {
    const pane = focused;
    const key = pane && pane.pod ? [pane.namespace, pane.pod, pane.container].join('/') : '';
    if (!force && key === sidebarKey) return;
    sidebarKey = key;
    loadLogs(pane);
    loadEvents(pane);
  }

  function appendLog(text) {
    const atBottom = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
    logs.append(document.createTextNode(text));
    if (logs.textContent.length > MAX_LOG_CHARS) logs.textContent = logs.textContent.slice(-MAX_LOG_CHARS / 2);
    if (atBottom) logs.scrollTop = logs.scrollHeight;
  }

  async function loadLogs(pane) {
    const load = ++logsLoad;
    if (logSource) {
      logSource.close();
      logSource = null;
    }
    logs.textContent = '';
    showProblem(logsProblem, null);
    if (!pane || !pane.pod || watch) {
      logsTarget.textContent = '';
      return;
    }
    logsTarget.textContent = pane.pod + (pane.container ? ' · ' + pane.container : '');
    const params = new URLSearchParams({
      namespace: pane.namespace, pod: pane.pod, container: pane.container,
      tailLines: logsTail.value, follow: logsFollow.checked ? 'true' : 'false',
    });
    const url = api + 'logs?' + params.toString();
    if (logsFollow.checked) {
      const source = new EventSource(url);
      logSource = source;
      source.addEventListener('message', (event) => appendLog(event.data + '\n'));
      // A failure while following arrives as one `diagnostic` event, then the stream ends.
      source.addEventListener('diagnostic', (event) => {
        let diagnostic = null;
        try { diagnostic = JSON.parse(event.data); } catch (_) { /* not JSON */ }
        if (diagnostic) showProblem(logsProblem, { diagnostic });
        source.close();
        if (logSource === source) logSource = null;
      });
      source.addEventListener('error', () => {
        if (source.readyState === EventSource.CLOSED && logSource === source) {
          showProblem(logsProblem, { code: 'follow_stopped', message: 'Following the logs stopped; press Refresh to see why.' });
        }
      });
      return;
    }
    try {
      const response = await request(url, 'text/plain');
      const text = await response.text();
      if (load === logsLoad) appendLog(text);
    } catch (problem) {
      if (load === logsLoad) showProblem(logsProblem, problem);
    }
  }

  async function loadEvents(pane) {
    const load = ++eventsLoad;
    events.replaceChildren();
    showProblem(eventsProblem, null);
    if (!pane || !pane.pod || watch) {
      events.append(el('li', { class: 'empty' }, 'Pick a pod to see its events.'));
      return;
    }
    try {
      const params = new URLSearchParams({ namespace: pane.namespace, pod: pane.pod });
      const body = await getJson(api + 'events?' + params.toString());
      if (load !== eventsLoad) return;
      const items = body.items || [];
      if (!items.length) events.append(el('li', { class: 'empty' }, 'No events for ' + pane.pod + '.'));
      for (const item of items) {
        const entry = el('li', { class: item.type === 'Warning' ? 'event event-warning' : 'event' });
        const head = el('p', { class: 'event-head' });
        head.append(el('strong', {}, item.reason || item.type || 'Event'));
        if (item.count > 1) head.append(el('span', { class: 'muted' }, ' ×' + item.count));
        if (item.lastSeen) head.append(el('time', { class: 'muted', datetime: item.lastSeen }, ' ' + item.lastSeen));
        entry.append(head, el('p', { class: 'event-message' }, item.message || ''));
        events.append(entry);
      }
    } catch (problem) {
      if (load === eventsLoad) showProblem(eventsProblem, problem);
    }
  }

  logsTail.addEventListener('change', () => refreshSidebar(true));
  logsFollow.addEventListener('change', () => refreshSidebar(true));
  document.getElementById('logs-refresh').addEventListener('click', () => {
    if (logsFollow.checked) logsFollow.checked = false;
    refreshSidebar(true);
  });

  // ---- quick commands ------------------------------------------------------------------------

  async function loadQuickCommands() {
    const holder = document.getElementById('quick-commands');
    if (!holder) return;
    let items = [];
    try {
      items = (await getJson(api + 'commands')).items || [];
    } catch (problem) {
      showProblem(holder, problem);
      return;
    }
    if (!items.length) return;
    holder.replaceChildren();
    for (const item of items) {
      const button = el('button', { type: 'button', class: 'quick-command-button secondary', title: item.command, 'data-command-id': item.id }, item.name);
      // Keep the focused pane's terminal focused while clicking.
      button.addEventListener('mousedown', (event) => event.preventDefault());
      button.addEventListener('click', () => {
        const pane = focused && focused.socket ? focused : panes.find((candidate) => candidate.socket);
        if (pane && sendInput(pane, encoder.encode(item.command + '\r'))) pane.term.focus();
      });
      holder.append(button);
    }
  }

  // ---- start ---------------------------------------------------------------------------------

  const first = createPane();
  focus(first);
  if (watch) {
    sidebar.hidden = true;
    toggle.hidden = true;
    refit(first);
    connect(first);
  } else {
    loadPods(first, true);
    loadQuickCommands();
  }
  window.addEventListener('resize', () => panes.forEach(refit));
});
