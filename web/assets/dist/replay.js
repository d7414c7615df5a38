// Janus request page: the request's terminal sessions (GET /api/v1/requests/{id}/recordings) and
// their replay with the vendored asciinema-player (asciicast v2 from /api/v1/recordings/{session}).
// Plain script; the server decides who may list and read recordings (the requester and admins).
'use strict';

document.addEventListener('DOMContentLoaded', function () {
  const section = document.getElementById('recordings');
  if (!section || typeof AsciinemaPlayer === 'undefined') return;
  const requestId = section.dataset.request;
  const list = section.querySelector('.recordings-list');
  const holder = document.getElementById('player');
  let player = null;

  function el(tag, attributes, text) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) element.setAttribute(name, value);
    if (text !== undefined && text !== null) element.textContent = String(text);
    return element;
  }

  function size(bytes) {
    if (!(bytes >= 0)) return '';
    if (bytes < 1024) return bytes + ' B';
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + ' KiB';
    return (bytes / 1024 / 1024).toFixed(1) + ' MiB';
  }

  function when(iso) {
    if (!iso) return '';
    const at = new Date(iso);
    return isNaN(at) ? iso : at.toLocaleString();
  }

  function play(session, button) {
    if (player) player.dispose();
    holder.replaceChildren();
    holder.dataset.session = session;
    holder.hidden = false;
    for (const other of list.querySelectorAll('button.replay')) other.setAttribute('aria-pressed', other === button ? 'true' : 'false');
    player = AsciinemaPlayer.create('/api/v1/recordings/' + encodeURIComponent(session), holder, {
      fit: 'width',
      idleTimeLimit: 2,
      autoPlay: true,
      terminalFontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
    });
    holder.scrollIntoView({ block: 'nearest' });
  }

  function render(items) {
    list.replaceChildren();
    if (!items.length) {
      list.append(el('p', { class: 'empty' }, 'No terminal sessions yet.'));
      return;
    }
    const table = el('table', { class: 'events recordings-table' });
    const head = el('tr');
    for (const title of ['Started', 'Pod', 'Ended', 'Size', '']) head.append(el('th', { scope: 'col' }, title));
    const thead = el('thead');
    thead.append(head);
    table.append(thead);
    const body = el('tbody');
    for (const item of items) {
      const row = el('tr', { 'data-session': item.session });
      const target = [item.namespace, item.pod].filter(Boolean).join('/') + (item.container ? ' · ' + item.container : '');
      const ended = when(item.endedAt) + (item.endReason ? ' (' + item.endReason + ')' : '');
      row.append(
        el('td', {}, when(item.startedAt)),
        el('td', {}, target),
        el('td', {}, ended),
        el('td', {}, size(item.bytes) + (item.truncated ? ' (truncated)' : '')),
      );
      const actions = el('td', { class: 'recording-actions' });
      const replay = el('button', { type: 'button', class: 'replay secondary', 'aria-pressed': 'false' }, 'Replay');
      replay.addEventListener('click', () => play(item.session, replay));
      actions.append(replay, ' ', el('a', { href: '/api/v1/recordings/' + encodeURIComponent(item.session), download: item.session + '.cast' }, 'Download'));
      row.append(actions);
      body.append(row);
    }
    table.append(body);
    const scroll = el('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': 'Terminal sessions' });
    scroll.append(table);
    list.append(scroll);
  }

  fetch('/api/v1/requests/' + encodeURIComponent(requestId) + '/recordings', {
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
  })
    .then(async (response) => {
      if (response.ok) return response.json();
      let message = 'The sessions could not be listed (status ' + response.status + ').';
      try { message = (await response.json()).error.message || message; } catch (_) { /* not JSON */ }
      throw new Error(message);
    })
    .then((body) => render(body.items || []))
    .catch((error) => list.replaceChildren(el('p', { class: 'flash flash-error', role: 'alert' }, error.message)));
});
