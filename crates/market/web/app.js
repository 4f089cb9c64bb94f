// The Confide marketplace and explorer: order books, assets, deals and tasks, read from the
// market's API (same origin) and kept live by its event stream.
//
// Security: names, params, result links and every other string come from orders and the
// chain, which anyone writes. This script never turns data into markup: it builds nodes
// with `el()` and text with text nodes, and only sets `href` to links it built itself
// (`#/…` routes from checked hex) or to http(s) result locations. The server's CSP forbids
// inline script besides.
'use strict';

const ZERO = '0x0000000000000000000000000000000000000000';
const TAG_BITS = [['tee', 0], ['scone', 1], ['gramine', 2], ['tdx', 3], ['gpu', 8]];
const FRAMEWORK_BITS = { tdx: 0b1001, gramine: 0b0101 };
const PAGE_SIZE = 20;
const BOOKS = {
  apporders: { title: 'App orders', subject: 'app', price: 'appprice', kind: 'apporder' },
  datasetorders: { title: 'Dataset orders', subject: 'dataset', price: 'datasetprice', kind: 'datasetorder' },
  workerpoolorders: { title: 'Workerpool orders', subject: 'workerpool', price: 'workerpoolprice', kind: 'workerpoolorder' },
  requestorders: { title: 'Request orders', subject: 'requester', price: null, kind: 'requestorder' },
};
// The types a protected data's schema entry may have (iExec's DataProtector's list).
const ENTRY_TYPES = ['string', 'bool', 'i128', 'f64', 'boolean', 'number', 'application/octet-stream', 'application/pdf',
  'application/xml', 'application/zip', 'audio/midi', 'audio/mpeg', 'audio/x-wav', 'image/bmp', 'image/gif', 'image/jpeg',
  'image/png', 'image/webp', 'video/mp4', 'video/mpeg', 'video/x-msvideo'];
const ENTRY_PATH = /^[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const ID = /^0x[0-9a-fA-F]{64}$/;

let chainId = null;
let view = { refresh: null, wants: () => false };
const assetCache = new Map();

// ---- small helpers -------------------------------------------------------------------

/** An element with attributes (only the safe ones this file uses) and children. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'text') node.textContent = String(value);
    else if (name === 'class') node.className = value;
    else if (name === 'href') node.setAttribute('href', value);
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

async function api(path) {
  let response;
  try {
    response = await fetch(path, { headers: { accept: 'application/json' } });
  } catch (e) {
    throw new ApiError('MARKET_UNREACHABLE', 'The market does not answer.', 0);
  }
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    throw new ApiError('BAD_ANSWER', `The market answered ${response.status} without JSON.`, response.status);
  }
  if (!response.ok || body.ok === false) {
    if (body && body.code === 'CHAIN_UNREACHABLE') showChainDown(body.error);
    throw new ApiError(body.code || 'ERROR', body.error || `HTTP ${response.status}`, response.status);
  }
  return body;
}

function isAddress(text) { return typeof text === 'string' && ADDRESS.test(text); }
function isId(text) { return typeof text === 'string' && ID.test(text); }
function short(hex) { return hex.length > 14 ? `${hex.slice(0, 8)}…${hex.slice(-6)}` : hex; }

/** nRLC (a decimal string) as RLC. */
function rlc(nrlc) {
  const digits = String(nrlc).replace(/^0+/, '');
  if (!/^[0-9]*$/.test(digits)) return String(nrlc);
  const whole = digits.length > 9 ? digits.slice(0, -9) : '0';
  const fraction = digits.padStart(9, '0').slice(-9).replace(/0+$/, '');
  return `${fraction ? `${whole}.${fraction}` : whole} RLC`;
}

/** The names of a tag's bits (`tee`, `tdx`, …); unknown bits are left out. */
function tagWords(tag) {
  if (typeof tag !== 'string' || !/^0x[0-9a-fA-F]{1,64}$/.test(tag)) return [];
  const low = parseInt(tag.slice(-4), 16);
  return TAG_BITS.filter(([, bit]) => low & (1 << bit)).map(([name]) => name);
}

function tagChips(words) {
  if (!words.length) return el('span', { class: 'muted', text: 'none' });
  return words.map((w) => el('span', { class: w === 'tee' ? 'tag tee' : 'tag', text: w }));
}

function when(seconds) {
  const n = Number(seconds);
  if (!Number.isFinite(n) || n <= 0) return '—';
  return new Date(n * 1000).toLocaleString();
}

function addressLink(address, label) {
  if (!isAddress(address)) return el('span', { class: 'addr', text: String(address) });
  if (address === ZERO) return el('span', { class: 'muted', text: 'none' });
  return el('a', { class: 'addr', href: `#/asset/${address.toLowerCase()}`, text: label || address });
}

function plainAddress(address) {
  if (address === ZERO) return el('span', { class: 'muted', text: 'none' });
  return el('span', { class: 'addr', text: String(address) });
}

function idLink(kind, id) {
  if (!isId(id)) return el('span', { class: 'addr', text: String(id) });
  return el('a', { class: 'addr', href: `#/${kind}/${id.toLowerCase()}`, text: id });
}

function facts(pairs) {
  return el('dl', { class: 'facts' }, pairs.filter(Boolean).map(([term, value]) => [el('dt', { text: term }), el('dd', {}, value)]));
}

function state(text, isError) {
  return el('p', { class: isError ? 'state error' : 'state', role: isError ? 'alert' : null, text });
}

function errorState(error) {
  if (error.code === 'NOT_ON_CHAIN' || error.code === 'ORDER_NOT_FOUND') return state(`Nothing matches: ${error.message}`, true);
  if (error.code === 'CHAIN_UNREACHABLE') return state(`The market cannot reach the chain: ${error.message}`, true);
  return state(error.message, true);
}

function show(...nodes) {
  const main = document.getElementById('main');
  main.replaceChildren(...nodes);
}

function copyButton(text) {
  return el('button', {
    type: 'button',
    class: 'secondary',
    'aria-label': 'Copy command',
    text: 'Copy',
    onclick: async (event) => {
      const button = event.currentTarget;
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = 'Copied';
      } catch (e) {
        const range = document.createRange();
        range.selectNodeContents(button.previousSibling);
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
        button.textContent = 'Selected';
      }
    },
  });
}

function command(text) {
  return el('div', {}, el('pre', { class: 'command', text }), copyButton(text));
}

// ---- chain state ---------------------------------------------------------------------

function showChainDown(reason) {
  const banner = document.getElementById('chain-banner');
  banner.textContent = `The market cannot reach the chain${reason ? `: ${reason}` : ''}. What you see may be out of date.`;
  banner.hidden = false;
}

async function checkChain() {
  try {
    const info = await api('/info');
    chainId = info.chainId;
    const banner = document.getElementById('chain-banner');
    if (info.chain.reachable) {
      banner.hidden = true;
      document.getElementById('chain-info').textContent =
        `Read-only: no wallet needed. Chain ${info.chainId}, block ${info.chain.block}, PoCo at ${info.hub}.`;
    } else {
      showChainDown(info.chain.error);
    }
  } catch (error) {
    showChainDown(error.message);
  }
}

// ---- order books ---------------------------------------------------------------------

function parseRoute() {
  let hash;
  try {
    hash = decodeURIComponent(location.hash.replace(/^#/, ''));
  } catch (e) {
    hash = '/not-found';
  }
  hash = hash || '/book/datasetorders';
  const [path, query] = hash.split('?');
  const parts = path.split('/').filter(Boolean);
  return { parts, params: new URLSearchParams(query || '') };
}

function bookQuery(book, params, page) {
  const q = new URLSearchParams({ chainId: String(chainId), pageSize: String(PAGE_SIZE), pageIndex: String(page) });
  let bits = params.get('tee') === '1' ? 1 : 0;
  const framework = params.get('framework');
  if (FRAMEWORK_BITS[framework]) bits |= FRAMEWORK_BITS[framework];
  if (bits) q.set('minTag', `0x${bits.toString(16).padStart(64, '0')}`);
  const category = params.get('category');
  if (category && /^[0-9]+$/.test(category)) q.set('category', category);
  const volume = params.get('minVolume');
  if (volume && /^[0-9]+$/.test(volume)) q.set('minVolume', volume);
  const asset = params.get('asset');
  if (asset && isAddress(asset)) q.set(BOOKS[book].subject, asset);
  return `/${book}?${q}`;
}

function orderCommands(book, entry) {
  const order = entry.order || {};
  const words = tagWords(order.tag);
  const tag = words.length ? ` --tag ${words.join(',')}` : '';
  const tee = words.includes('tee');
  const known = (address) => isAddress(address) && address !== ZERO;
  if (book === 'apporders') {
    const dataset = known(order.datasetrestrict) ? ` --dataset ${order.datasetrestrict}` : '';
    return [
      `confide app run ${order.app}${dataset}${tag}${tee ? ' --encrypt-result' : ''} --watch`,
      `iexec app run ${order.app}${dataset}${tag}${tee ? ' --encrypt-result' : ''} --watch`,
    ];
  }
  if (book === 'datasetorders') {
    const app = known(order.apprestrict) ? order.apprestrict : '<app>';
    return [
      `confide app run ${app} --dataset ${order.dataset}${tag}${tee ? ' --encrypt-result' : ''} --watch`,
      `iexec app run ${app} --dataset ${order.dataset}${tag}${tee ? ' --encrypt-result' : ''} --watch`,
    ];
  }
  if (book === 'workerpoolorders') {
    const app = known(order.apprestrict) ? order.apprestrict : '<app>';
    const category = /^[0-9]+$/.test(String(order.category)) ? ` --category ${order.category}` : '';
    return [
      `confide app run ${app} --workerpool ${order.workerpool}${category}${tag} --watch`,
      `iexec app run ${app} --workerpool ${order.workerpool}${category}${tag} --watch`,
    ];
  }
  return [`iexec order fill --request ${entry.orderHash}`];
}

function restrictions(book, order) {
  const names = book === 'requestorders'
    ? [['app', 'app'], ['dataset', 'dataset'], ['workerpool', 'workerpool']]
    : [['apprestrict', 'app'], ['datasetrestrict', 'dataset'], ['workerpoolrestrict', 'workerpool'], ['requesterrestrict', 'requester']];
  const set = names.filter(([field]) => isAddress(order[field]) && order[field] !== ZERO && BOOKS[book].subject !== field);
  if (!set.length) return el('span', { class: 'muted', text: 'anyone' });
  return set.map(([field, label]) => el('div', {}, `${label} `, addressLink(order[field], short(order[field]))));
}

function price(book, order) {
  if (book === 'requestorders') {
    let total = 0n;
    for (const field of ['appmaxprice', 'datasetmaxprice', 'workerpoolmaxprice']) {
      if (/^[0-9]+$/.test(String(order[field] || '0'))) total += BigInt(order[field] || 0);
    }
    return `at most ${rlc(total.toString())}`;
  }
  return rlc(order[BOOKS[book].price]);
}

function assetCell(book, entry) {
  const subject = entry.order[BOOKS[book].subject];
  const name = el('span', { class: 'asset-name', 'data-asset': isAddress(subject) ? subject.toLowerCase() : null });
  const cell = el('td', { 'data-label': 'Asset' }, name, el('div', {}, addressLink(subject)));
  if (book !== 'requestorders') cell.append(el('div', { class: 'muted' }, 'owner ', plainAddress(entry.signer)));
  else if (entry.order.params) cell.append(el('div', { class: 'muted params' }, 'params ', el('span', { class: 'addr', text: String(entry.order.params) })));
  return cell;
}

function orderRow(book, entry) {
  const order = entry.order || {};
  const published = new Date(Number(entry.publicationTimestamp));
  return el('tr', { class: 'order', 'data-hash': entry.orderHash },
    assetCell(book, entry),
    el('td', { class: 'num', 'data-label': 'Price' }, price(book, order)),
    el('td', { class: 'num', 'data-label': 'Volume' }, `${entry.remaining} of ${order.volume}`),
    el('td', { 'data-label': 'Tag' }, tagChips(tagWords(order.tag))),
    el('td', { 'data-label': 'Restricted to' }, restrictions(book, order)),
    el('td', { 'data-label': 'Published' }, Number.isFinite(published.getTime()) ? published.toLocaleString() : '—'),
    el('td', { 'data-label': 'Use it' }, el('div', { class: 'commands' }, orderCommands(book, entry).map(command))),
  );
}

function orderTable(book, orders) {
  return el('table', { class: 'book', id: 'book' },
    el('thead', {}, el('tr', {}, ['Asset', 'Price', 'Volume', 'Tag', 'Restricted to', 'Published', 'Use it'].map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, orders.map((entry) => orderRow(book, entry))));
}

/** Fills in the names of the assets shown, from the registry (cached). */
async function fillNames(root) {
  const wanted = new Set([...root.querySelectorAll('[data-asset]')].map((n) => n.getAttribute('data-asset')));
  await Promise.all([...wanted].map(async (address) => {
    if (!assetCache.has(address)) {
      try {
        assetCache.set(address, (await api(`/assets/${address}`)).asset);
      } catch (e) {
        assetCache.set(address, null);
      }
    }
  }));
  for (const node of root.querySelectorAll('[data-asset]')) {
    const asset = assetCache.get(node.getAttribute('data-asset'));
    if (asset) node.replaceChildren(el('strong', { text: asset.name || '(no name)' }), ' ', el('span', { class: 'muted', text: asset.kind }));
  }
}

function markFirstRows() {
  if (!document.documentElement.hasAttribute('data-first-rows-ms')) {
    document.documentElement.setAttribute('data-first-rows-ms', String(Math.round(performance.now())));
  }
}

function bookFilters(book, params) {
  const set = (name, value) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value); else next.delete(name);
    next.delete('page');
    location.hash = `#/book/${book}?${next}`;
  };
  const tee = el('input', { type: 'checkbox', id: 'filter-tee', checked: params.get('tee') === '1', onchange: (e) => set('tee', e.target.checked ? '1' : '') });
  const framework = el('select', { id: 'filter-framework', onchange: (e) => set('framework', e.target.value) },
    [['', 'any'], ['tdx', 'Intel TDX'], ['gramine', 'Gramine (SGX)']].map(([value, label]) =>
      el('option', { value, selected: params.get('framework') === value || (!params.get('framework') && !value), text: label })));
  const category = el('input', { type: 'number', min: '0', id: 'filter-category', value: params.get('category') || '', onchange: (e) => set('category', e.target.value) });
  const volume = el('input', { type: 'number', min: '1', id: 'filter-volume', value: params.get('minVolume') || '', onchange: (e) => set('minVolume', e.target.value) });
  const asset = el('input', { type: 'text', id: 'filter-asset', spellcheck: 'false', placeholder: '0x…', value: params.get('asset') || '', onchange: (e) => set('asset', e.target.value.trim()) });
  return el('form', { class: 'filters', 'aria-label': 'Filters', onsubmit: (e) => e.preventDefault() },
    el('label', { class: 'check', for: 'filter-tee' }, tee, 'TEE only'),
    el('label', { for: 'filter-framework' }, 'TEE framework', framework),
    el('label', { for: 'filter-category' }, 'Category', category),
    el('label', { for: 'filter-volume' }, 'Minimum volume', volume),
    el('label', { for: 'filter-asset' }, BOOKS[book].subject === 'requester' ? 'Requester address' : 'Asset address', asset));
}

async function renderBook(book, params) {
  const page = Math.max(0, Number(params.get('page')) || 0);
  const asset = params.get('asset');
  const results = el('div', { id: 'results' }, state('Loading orders…'));
  show(el('h1', { text: BOOKS[book].title }), bookFilters(book, params), results);
  if (asset && !isAddress(asset)) {
    results.replaceChildren(state('The asset address must be 0x followed by 40 hex digits.', true));
    return;
  }
  const refresh = async () => {
    try {
      const answer = await api(bookQuery(book, params, page));
      if (!answer.orders.length) {
        results.replaceChildren(state(page ? 'No more orders.' : 'Nothing matches these filters.'));
        markFirstRows();
        return;
      }
      const count = `${answer.count}${answer.countIsCapped ? '+' : ''} open order${answer.count === 1 ? '' : 's'}, cheapest first`;
      const pager = el('div', { class: 'pager' });
      const go = (to) => { const next = new URLSearchParams(params); next.set('page', String(to)); location.hash = `#/book/${book}?${next}`; };
      if (page > 0) pager.append(el('button', { type: 'button', class: 'secondary', text: 'Previous', onclick: () => go(page - 1) }));
      if (answer.nextPage !== undefined) pager.append(el('button', { type: 'button', class: 'secondary', text: 'Next', onclick: () => go(page + 1) }));
      results.replaceChildren(el('p', { class: 'count', text: count }), orderTable(book, answer.orders), pager);
      markFirstRows();
      fillNames(results);
    } catch (error) {
      results.replaceChildren(errorState(error));
    }
  };
  view = { refresh, wants: (event) => event.kind === BOOKS[book].kind };
  await refresh();
}

// ---- asset, deal and task pages ------------------------------------------------------

function dealTable(deals) {
  if (!deals.length) return state('No deals yet.');
  return el('table', { class: 'book', id: 'deals' },
    el('thead', {}, el('tr', {}, ['Deal', 'App', 'Dataset', 'Workerpool', 'Tag', 'Tasks', 'Started'].map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, deals.map((d) => el('tr', { class: 'deal' },
      el('td', { 'data-label': 'Deal' }, idLink('deal', d.dealId)),
      el('td', { 'data-label': 'App' }, addressLink(d.app, short(d.app))),
      el('td', { 'data-label': 'Dataset' }, addressLink(d.dataset, short(d.dataset))),
      el('td', { 'data-label': 'Workerpool' }, addressLink(d.workerpool, short(d.workerpool))),
      el('td', { 'data-label': 'Tag' }, tagChips(d.tag || [])),
      el('td', { 'data-label': 'Tasks' }, String(d.botSize)),
      el('td', { 'data-label': 'Started' }, when(d.startTime))))));
}

async function renderAsset(address) {
  show(state('Loading the asset…'));
  const refresh = async () => {
    try {
      const { asset, deals, workerpool } = await api(`/assets/${address}`);
      const rows = [
        ['Kind', asset.kind],
        ['Address', plainAddress(asset.address)],
        ['Owner', plainAddress(asset.owner)],
        [asset.kind === 'workerpool' ? 'Description' : 'Name', asset.name],
        asset.multiaddr !== undefined && ['Multiaddr', el('span', { class: 'addr', text: asset.multiaddr })],
        asset.checksum !== undefined && ['Checksum', el('span', { class: 'addr', text: asset.checksum })],
        asset.type !== undefined && ['Type', asset.type],
        asset.enclave && ['Enclave fingerprint', el('span', { class: 'addr', text: asset.enclave.fingerprint })],
        asset.enclave && ['Enclave', `${asset.enclave.framework}, memory cap ${Math.round(asset.enclave.heapSize / 1048576)} MiB${asset.enclave.python ? `, Python (${asset.enclave.python.runtime})` : ''}`],
        asset.kind === 'app' && !asset.enclave && ['Enclave', asset.mrenclave ? el('span', { class: 'addr', text: asset.mrenclave }) : 'not on chain: in the manifest at the multiaddr, whose sha256 is the checksum (none for a plain module)'],
        asset.schedulerRewardRatio !== undefined && ['Scheduler reward', `${asset.schedulerRewardRatio}%`],
        asset.workerStakeRatio !== undefined && ['Worker stake', `${asset.workerStakeRatio}%`],
      ];
      const sections = [el('h1', { text: asset.name || asset.address }), facts(rows)];
      if (workerpool) {
        const t = workerpool.tasks;
        sections.push(el('section', { id: 'workerpool-stats' },
          el('h2', { text: 'TEE frameworks and tasks' }),
          el('p', {}, 'Frameworks offered: ', workerpool.frameworks.length ? tagChips(workerpool.frameworks) : el('span', { class: 'muted', text: 'none (standard tasks only)' })),
          el('div', { class: 'stats' },
            [['completed', t.completed], ['failed, not claimed yet', t.overdue], ['claimed', t.claimed], ['running', t.running]]
              .map(([label, n]) => el('div', { 'data-stat': label }, el('strong', { text: String(n) }), label)))));
      }
      const book = `${asset.kind}orders`;
      const orders = el('div', {}, state('Loading orders…'));
      sections.push(el('section', {}, el('h2', { text: 'Open orders' }), orders));
      sections.push(el('section', {}, el('h2', { text: 'Deals' }), dealTable(deals)));
      show(...sections);
      if (asset.kind === 'dataset') {
        // A dataset made through the DataProtector has a page of its own, with its schema.
        api(`/protected-data/${address}`).then(() => {
          sections[1].after(el('p', { id: 'asset-protected' }, 'A protected data: ',
            el('a', { href: `#/protected/${address}`, text: 'its schema, grants and tasks' })));
        }, () => {});
      }
      try {
        const q = new URLSearchParams({ chainId: String(chainId), pageSize: '50', [BOOKS[book].subject]: address });
        const answer = await api(`/${book}?${q}`);
        orders.replaceChildren(answer.orders.length ? orderTable(book, answer.orders) : state('No open orders.'));
      } catch (error) {
        orders.replaceChildren(errorState(error));
      }
    } catch (error) {
      show(errorState(error));
    }
  };
  view = { refresh, wants: (event) => event.change === 'deal' || event.change === 'task' || /order$/.test(event.kind || '') };
  await refresh();
}

function paymentFacts(deal) {
  const p = deal.payment;
  return facts([
    ['Per task', `${p.perTask} RLC`],
    ['App owner', `${p.app} RLC`],
    ['Dataset owner', `${p.dataset} RLC`],
    ['Workerpool', `${p.workerpool} RLC: scheduler ${p.scheduler} RLC (${p.schedulerRewardRatio}%), workers ${p.workers} RLC`],
    ['Whole deal', `${p.total} RLC for ${deal.botSize} task${deal.botSize === '1' ? '' : 's'}`],
    ['Worker stake', `${p.workerStake} RLC`],
  ]);
}

function dealFacts(deal) {
  return facts([
    ['Deal', idLink('deal', deal.dealId)],
    ['App', el('span', {}, addressLink(deal.app.address), el('span', { class: 'muted', text: ` at ${deal.app.price} RLC` }))],
    ['Dataset', el('span', {}, addressLink(deal.dataset.address), deal.dataset.address !== ZERO ? el('span', { class: 'muted', text: ` at ${deal.dataset.price} RLC` }) : null)],
    ['Workerpool', el('span', {}, addressLink(deal.workerpool.address), el('span', { class: 'muted', text: ` at ${deal.workerpool.price} RLC` }))],
    ['Requester', plainAddress(deal.requester)],
    ['Beneficiary', plainAddress(deal.beneficiary)],
    ['Category', deal.category],
    ['Trust', deal.trust],
    ['Tag', tagChips(deal.tagWords)],
    ['Started', when(deal.startTime)],
    ['Params', el('span', { class: 'addr', text: deal.params || '(none)' })],
    ['Result', deal.resultEncrypted ? 'encrypted for the beneficiary' : 'not encrypted'],
  ]);
}

async function renderDeal(dealId) {
  show(state('Loading the deal…'));
  const refresh = async () => {
    try {
      const { deal, tasks } = await api(`/deals/${dealId}`);
      // A bulk deal (no dataset, params naming a bulk root): its request's page shows
      // which protected data each task runs over.
      let bulk = null;
      if (String(deal.params || '').includes('bulk_cid')) {
        const [found] = await bulkDeals({ id: dealId });
        if (found && isId(found.requestorder.id)) {
          bulk = el('p', { id: 'bulk-request' }, 'A bulk deal: ', el('a', { href: `#/request/${found.requestorder.id.toLowerCase()}`, text: 'its tasks and the protected data of each' }));
        }
      }
      show(
        el('h1', { text: `Deal ${short(dealId)}` }),
        bulk,
        dealFacts(deal),
        el('section', {}, el('h2', { text: 'Payment' }), paymentFacts(deal)),
        el('section', {}, el('h2', { text: 'Tasks' }),
          el('table', { class: 'book', id: 'tasks' },
            el('thead', {}, el('tr', {}, ['Index', 'Task', 'Status'].map((h) => el('th', { scope: 'col', text: h })))),
            el('tbody', {}, tasks.map((t) => el('tr', { class: 'task' },
              el('td', { 'data-label': 'Index' }, String(t.index)),
              el('td', { 'data-label': 'Task' }, idLink('task', t.taskId)),
              el('td', { 'data-label': 'Status' }, el('span', { class: `status ${t.status}`, text: t.status === 'UNSET' ? 'not started' : t.status }))))))));
    } catch (error) {
      show(errorState(error));
    }
  };
  view = { refresh, wants: (event) => event.dealId === dealId };
  await refresh();
}

/** Deals of the PoCo subgraph endpoint with each task's bulk slice (`where`: its filter). */
async function bulkDeals(where) {
  // 20 deals of 250 tasks at most: within the endpoint's complexity bound.
  const query = 'query($where: Deal_filter) { deals(where: $where, first: 20) { id requestorder { id } botFirst botSize tasks(first: 250) { id index status bulkSlice { datasets { id } } } } }';
  let response;
  try {
    response = await fetch('/graphql/poco', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query, variables: { where } }),
    });
  } catch (e) {
    throw new ApiError('MARKET_UNREACHABLE', 'The market does not answer.', 0);
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok || body.errors || !body.data) {
    throw new ApiError('GRAPHQL_ERROR', (body.errors && body.errors[0] && body.errors[0].message) || 'The market refused the query.', response.status);
  }
  return body.data.deals;
}

function protectedLink(address) {
  if (!isAddress(address)) return el('span', { class: 'addr', text: String(address) });
  return el('a', { class: 'addr', href: `#/protected/${address.toLowerCase()}`, text: short(address) });
}

/** A bulk request: the deals it produced, each task and the protected data of its slice. */
async function renderRequest(requestHash) {
  show(state('Loading the bulk request…'));
  const refresh = async () => {
    try {
      const deals = await bulkDeals({ requestorder: requestHash });
      const tasks = deals.flatMap((d) => d.tasks.map((t) => ({ ...t, dealId: d.id })));
      tasks.sort((a, b) => Number(a.index) - Number(b.index));
      const done = tasks.filter((t) => t.status === 'COMPLETED' || t.status === 'FAILED').length;
      const slices = tasks.reduce((n, t) => n + (t.bulkSlice ? t.bulkSlice.datasets.length : 0), 0);
      show(
        el('h1', { text: `Bulk request ${short(requestHash)}` }),
        deals.length === 0
          ? state('No deal of this request yet: the requester has not processed it, or the market has not seen it.', true)
          : facts([
            ['Request order', el('span', { class: 'addr', text: requestHash })],
            ['Deals', deals.map((d) => el('div', {}, idLink('deal', d.id)))],
            ['Tasks', `${done} of ${tasks.length} finished`],
            ['Protected data', `${slices} in the slices`],
          ]),
        el('section', {}, el('h2', { text: 'Tasks and their slices' }),
          el('table', { class: 'book', id: 'slices' },
            el('thead', {}, el('tr', {}, ['Index', 'Task', 'Status', 'Protected data'].map((h) => el('th', { scope: 'col', text: h })))),
            el('tbody', {}, tasks.map((t) => el('tr', { class: 'task' },
              el('td', { 'data-label': 'Index' }, String(t.index)),
              el('td', { 'data-label': 'Task' }, idLink('task', t.id)),
              el('td', { 'data-label': 'Status' }, el('span', { class: `status ${t.status}`, text: t.status === 'UNSET' ? 'not started' : t.status })),
              el('td', { 'data-label': 'Protected data' }, t.bulkSlice
                ? t.bulkSlice.datasets.map((d) => el('div', {}, protectedLink(d.id)))
                : el('span', { class: 'muted', text: 'slice not readable now' }))))))));
    } catch (error) {
      show(errorState(error));
    }
  };
  view = { refresh, wants: (event) => event.change === 'deal' || event.change === 'task' };
  await refresh();
}

function resultLink(result) {
  if (!result) return el('span', { class: 'muted', text: 'none yet' });
  if (result.raw !== undefined) return el('span', { class: 'addr', text: result.raw });
  const location = String(result.location);
  const link = /^https?:\/\//i.test(location)
    ? el('a', { class: 'addr', href: location, rel: 'noopener noreferrer nofollow', target: '_blank', text: location })
    : el('span', { class: 'addr', text: location });
  return el('span', {}, link, el('span', { class: 'muted', text: ` (${result.storage || 'unknown storage'})` }));
}

async function renderTask(taskId) {
  show(state('Loading the task…'));
  const refresh = async () => {
    try {
      const { task, deal, schedulerStep } = await api(`/tasks/${taskId}`);
      show(
        el('h1', { text: `Task ${short(taskId)}` }),
        facts([
          ['Task', el('span', { class: 'addr', text: task.taskId })],
          ['Status on chain', el('span', { class: `status ${task.status}`, id: 'task-status', text: task.status === 'UNSET' ? 'not started yet' : task.status })],
          ['Scheduler', schedulerStep ? el('span', { id: 'scheduler-step', text: schedulerStep }) : el('span', { class: 'muted', text: 'not known to this market' })],
          ['Deal', idLink('deal', task.dealId)],
          ['Index', task.index],
          ['Contribution deadline', when(task.contributionDeadline)],
          ['Final deadline', when(task.finalDeadline)],
          ['Contributors', task.contributors.length ? task.contributors.map((c) => el('div', {}, plainAddress(c))) : el('span', { class: 'muted', text: 'none yet' })],
          ['Result', resultLink(task.result)],
          ['Result encrypted', deal.resultEncrypted ? 'yes, for the beneficiary' : 'no'],
          task.status === 'COMPLETED' && ['Result digest', el('span', { class: 'addr', text: task.resultDigest })],
          Number(task.completedAt) > 0 && ['Completed', when(task.completedAt)],
        ]),
        el('section', {}, el('h2', { text: 'Its deal' }), dealFacts(deal), paymentFacts(deal)));
    } catch (error) {
      show(errorState(error));
    }
  };
  view = { refresh, wants: (event) => event.taskId === taskId };
  await refresh();
}

/** A 32-byte id typed in the search: a task if the chain has one, else a deal. */
async function resolveId(id) {
  show(state('Looking it up…'));
  try {
    await api(`/tasks/${id}`);
    location.replace(`#/task/${id}`);
  } catch (error) {
    if (error.code !== 'NOT_ON_CHAIN') { show(errorState(error)); return; }
    try {
      await api(`/deals/${id}`);
      location.replace(`#/deal/${id}`);
    } catch (dealError) {
      show(dealError.code === 'NOT_ON_CHAIN' ? state(`Nothing matches ${id}: no task or deal with that id on this chain.`, true) : errorState(dealError));
    }
  }
}


// ---- protected data ------------------------------------------------------------------

/** The `path:type` entries of the list's filter, from the route (`schema=a:string,b:i128`). */
function schemaFilter(params) {
  return (params.get('schema') || '').split(',').filter((entry) => {
    const at = entry.indexOf(':');
    return at > 0 && ENTRY_PATH.test(entry.slice(0, at)) && ENTRY_TYPES.includes(entry.slice(at + 1));
  });
}

function entryChips(entries, onRemove) {
  if (!entries.length) return el('span', { class: 'muted', text: 'none' });
  return entries.map((entry) => el('span', { class: 'tag entry', 'data-entry': entry },
    entry,
    onRemove ? el('button', { type: 'button', class: 'chip-remove', 'aria-label': `Remove ${entry}`, text: '×', onclick: () => onRemove(entry) }) : null));
}

function protectedFilters(params) {
  const entries = schemaFilter(params);
  const go = (next) => { next.delete('skip'); location.hash = `#/protected?${next}`; };
  const setEntries = (list) => {
    const next = new URLSearchParams(params);
    if (list.length) next.set('schema', list.join(',')); else next.delete('schema');
    go(next);
  };
  const path = el('input', { type: 'text', id: 'filter-path', spellcheck: 'false', placeholder: 'email or address.city' });
  const type = el('select', { id: 'filter-type' }, ENTRY_TYPES.map((t) => el('option', { value: t, text: t })));
  const error = el('span', { class: 'field-error', id: 'filter-error', role: 'alert' });
  const add = el('button', {
    type: 'button', id: 'filter-add', class: 'secondary', text: 'Add entry',
    onclick: () => {
      const p = path.value.trim();
      if (!ENTRY_PATH.test(p)) { error.textContent = 'A path is keys of letters, digits, - and _, joined with dots.'; return; }
      const entry = `${p}:${type.value}`;
      if (!entries.includes(entry)) setEntries([...entries, entry]);
    },
  });
  const owner = el('input', {
    type: 'text', id: 'filter-owner', spellcheck: 'false', placeholder: '0x…', value: params.get('owner') || '',
    onchange: (e) => { const next = new URLSearchParams(params); const v = e.target.value.trim(); if (v) next.set('owner', v); else next.delete('owner'); go(next); },
  });
  return el('form', { class: 'filters', 'aria-label': 'Filters', onsubmit: (e) => { e.preventDefault(); add.click(); } },
    el('label', { for: 'filter-path' }, 'Schema path', path),
    el('label', { for: 'filter-type' }, 'Type', type),
    add,
    el('label', { for: 'filter-owner' }, 'Owner address', owner),
    el('div', { class: 'entries', id: 'filter-entries' }, 'Has every entry: ', entryChips(entries, (gone) => setEntries(entries.filter((e) => e !== gone)))),
    error);
}

function protectedTable(items) {
  return el('table', { class: 'book', id: 'protected' },
    el('thead', {}, el('tr', {}, ['Name', 'Owner', 'Schema', 'Created'].map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, items.map((p) => el('tr', { class: 'protected-data', 'data-address': p.address },
      el('td', { 'data-label': 'Name' },
        isAddress(p.address) ? el('a', { href: `#/protected/${p.address.toLowerCase()}`, class: 'pd-name', text: p.name || '(no name)' }) : el('span', { text: p.name }),
        el('div', { class: 'addr muted', text: p.address })),
      el('td', { 'data-label': 'Owner' }, plainAddress(p.owner)),
      el('td', { 'data-label': 'Schema' }, entryChips((p.schema || []).map((e) => `${e.path}:${e.type}`))),
      el('td', { 'data-label': 'Created' }, when(p.creationTimestamp))))));
}

async function renderProtectedList(params) {
  const skip = Math.max(0, Number(params.get('skip')) || 0);
  const results = el('div', { id: 'results' }, state('Loading protected data…'));
  show(el('h1', { text: 'Protected data' }), protectedFilters(params), results);
  const owner = params.get('owner');
  if (owner && !isAddress(owner)) {
    results.replaceChildren(state('The owner address must be 0x followed by 40 hex digits.', true));
    return;
  }
  const refresh = async () => {
    try {
      const q = new URLSearchParams({ first: String(PAGE_SIZE), skip: String(skip) });
      const entries = schemaFilter(params);
      if (entries.length) q.set('schema', entries.join(','));
      if (owner) q.set('owner', owner);
      const answer = await api(`/protected-data?${q}`);
      if (!answer.protectedData.length) {
        results.replaceChildren(state(skip ? 'No more protected data.' : (answer.followed ? 'No protected data matches these filters.' : 'This market follows no DataProtector contract: it records no protected data.')));
        markFirstRows();
        return;
      }
      const pager = el('div', { class: 'pager' });
      const go = (to) => { const next = new URLSearchParams(params); next.set('skip', String(to)); location.hash = `#/protected?${next}`; };
      if (skip > 0) pager.append(el('button', { type: 'button', class: 'secondary', text: 'Previous', onclick: () => go(Math.max(0, skip - PAGE_SIZE)) }));
      if (answer.nextSkip !== undefined) pager.append(el('button', { type: 'button', class: 'secondary', text: 'Next', onclick: () => go(answer.nextSkip) }));
      results.replaceChildren(el('p', { class: 'count', text: 'Newest first' }), protectedTable(answer.protectedData), pager);
      markFirstRows();
    } catch (error) {
      results.replaceChildren(errorState(error));
    }
  };
  view = { refresh, wants: (event) => event.change === 'protectedData' };
  await refresh();
}

/** A schema tree (`{"address":{"city":"string"}}`) as nested lists. */
function schemaTree(tree) {
  const keys = Object.keys(tree || {});
  if (!keys.length) return el('span', { class: 'muted', text: 'no valid entries' });
  return el('ul', { class: 'schema-tree' }, keys.map((key) => {
    const value = tree[key];
    return el('li', {}, el('span', { class: 'schema-key', text: key }),
      typeof value === 'string' ? [' ', el('span', { class: 'tag', text: value })] : schemaTree(value));
  }));
}

function grantTable(grants) {
  if (!grants.length) return state('No access granted: the owner has published no dataset order for it.');
  const anyone = (address) => (isAddress(address) && address !== ZERO ? addressLink(address, short(address)) : el('span', { class: 'muted', text: 'anyone' }));
  return el('table', { class: 'book', id: 'grants' },
    el('thead', {}, el('tr', {}, ['App', 'Requester', 'Workerpool', 'Price', 'Uses left', 'Tag'].map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, grants.map((g) => el('tr', { class: 'grant', 'data-hash': g.orderHash },
      el('td', { 'data-label': 'App' }, anyone(g.app)),
      el('td', { 'data-label': 'Requester' }, anyone(g.requester)),
      el('td', { 'data-label': 'Workerpool' }, anyone(g.workerpool)),
      el('td', { 'data-label': 'Price' }, rlc(g.price)),
      el('td', { 'data-label': 'Uses left' }, g.bulk ? 'unlimited (bulk)' : `${g.remaining} of ${g.volume}`),
      el('td', { 'data-label': 'Tag' }, tagChips(tagWords(g.tag)))))));
}

function taskTable(tasks) {
  if (!tasks.length) return state('No tasks yet.');
  return el('table', { class: 'book', id: 'pd-tasks' },
    el('thead', {}, el('tr', {}, ['Task', 'Deal', 'Status'].map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, tasks.map((t) => el('tr', { class: 'task' },
      el('td', { 'data-label': 'Task' }, idLink('task', t.taskId)),
      el('td', { 'data-label': 'Deal' }, idLink('deal', t.dealId)),
      el('td', { 'data-label': 'Status' }, el('span', { class: `status ${t.status}`, text: t.status === 'UNSET' ? 'not started' : t.status }))))));
}

async function renderProtectedData(address) {
  show(state('Loading the protected data…'));
  const refresh = async () => {
    try {
      const { protectedData: p, grants, deals, tasks } = await api(`/protected-data/${address}`);
      show(
        el('h1', { id: 'pd-title', text: p.name || p.address }),
        facts([
          ['Address', el('span', {}, addressLink(p.address), el('span', { class: 'muted', text: ' (its dataset)' }))],
          ['Owner', el('span', { id: 'pd-owner', class: 'addr', text: p.owner })],
          ['Multiaddr', el('span', { class: 'addr', text: p.multiaddr })],
          ['Checksum', el('span', { class: 'addr', text: p.checksum })],
          ['Created', `${when(p.creationTimestamp)}, block ${p.blockNumber}`],
          ['Transaction', el('span', { class: 'addr', text: p.transactionHash })],
        ]),
        el('section', { id: 'pd-schema' }, el('h2', { text: 'Schema' }), schemaTree(p.schemaTree)),
        el('section', {}, el('h2', { text: 'Granted access' }), grantTable(grants)),
        el('section', {}, el('h2', { text: 'Deals' }), dealTable(deals)),
        el('section', {}, el('h2', { text: 'Tasks' }), taskTable(tasks)));
    } catch (error) {
      show(errorState(error));
    }
  };
  view = { refresh, wants: (event) => (event.change === 'protectedData' && event.address === address) || event.change === 'deal' || event.change === 'task' || event.kind === 'datasetorder' };
  await refresh();
}

// ---- routing -------------------------------------------------------------------------

async function route() {
  view = { refresh: null, wants: () => false };
  if (chainId === null) await checkChain();
  const { parts, params } = parseRoute();
  const [page, arg] = parts;
  for (const link of document.querySelectorAll('nav a')) {
    link.toggleAttribute('aria-current', false);
    if (page === 'book' && link.getAttribute('data-book') === arg) link.setAttribute('aria-current', 'page');
    if (page === 'protected' && link.getAttribute('data-book') === 'protected') link.setAttribute('aria-current', 'page');
  }
  if (page === 'book' && BOOKS[arg]) return renderBook(arg, params);
  if (page === 'asset' && isAddress(arg)) return renderAsset(arg.toLowerCase());
  if (page === 'deal' && isId(arg)) return renderDeal(arg.toLowerCase());
  if (page === 'task' && isId(arg)) return renderTask(arg.toLowerCase());
  if (page === 'request' && isId(arg)) return renderRequest(arg.toLowerCase());
  if (page === 'find' && isId(arg)) return resolveId(arg.toLowerCase());
  if (page === 'protected' && !arg) return renderProtectedList(params);
  if (page === 'protected' && isAddress(arg)) return renderProtectedData(arg.toLowerCase());
  if (!page) return renderBook('datasetorders', params);
  show(state('Nothing here: this page does not exist. Pick an order book above, or search.', true));
}

function onSearch(event) {
  event.preventDefault();
  const text = document.getElementById('search-input').value.trim();
  if (isAddress(text)) location.hash = `#/asset/${text.toLowerCase()}`;
  else if (isId(text)) location.hash = `#/find/${text.toLowerCase()}`;
  else show(state('Type an address (0x and 40 hex digits) or a deal or task id (0x and 64 hex digits).', true));
}

/**
 * Live updates: each change the market announces refreshes the view that shows it.
 * The stream holds one of the six connections a browser opens to a host over HTTP/1.1,
 * so it is closed while the page is hidden or left (else a few background tabs, or pages
 * kept in the back-forward cache, would leave no connection for the API), and reopened,
 * with a refresh for what was missed, when the page is shown again.
 */
let source = null;
let pending = null;

function listen() {
  if (source) return;
  source = new EventSource('/events');
  source.onmessage = (message) => {
    let event;
    try { event = JSON.parse(message.data); } catch (e) { return; }
    if (!view.refresh || !view.wants(event)) return;
    clearTimeout(pending);
    pending = setTimeout(() => view.refresh && view.refresh(), 250);
  };
}

function stopListening() {
  if (source) source.close();
  source = null;
}

function resume() {
  if (source) return;
  listen();
  if (view.refresh) view.refresh();
}

document.addEventListener('visibilitychange', () => (document.hidden ? stopListening() : resume()));
window.addEventListener('pagehide', stopListening);
window.addEventListener('pageshow', (event) => { if (event.persisted) resume(); });
window.addEventListener('hashchange', route);
document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('search').addEventListener('submit', onSearch);
  listen();
  route();
  setInterval(checkChain, 15000);
});
