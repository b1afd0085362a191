// router.mjs: hash routes (#/discover, #/host/12, ...) -> screens.
//
// Contract: new Router(routes, {container, fallback}); routes are [pattern, screen] with
// patterns like '/host/:id'; a screen is {title, render(el, params) -> cleanup | undefined}
// (render may be async). start() renders the current hash and follows hashchange; render()
// renders it again (after sign-in); stop() runs the current cleanup. The screen's <h2>
// takes the focus on every navigation, so keyboard and screen-reader users land on the new
// content instead of staying on the link they used.

export function navigate(path) {
  if (location.hash === `#${path}`) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = path;
}

export function currentPath() { return location.hash.replace(/^#/, '') || '/'; }

function match(pattern, path) {
  const a = pattern.split('/');
  const b = path.split('?')[0].split('/');
  if (a.length !== b.length) return null;
  const params = {};
  for (let i = 0; i < a.length; i++) {
    if (a[i].startsWith(':')) params[a[i].slice(1)] = decodeURIComponent(b[i]);
    else if (a[i] !== b[i]) return null;
  }
  return params;
}

export class Router {
  constructor(routes, { container, fallback, onRender }) {
    this.routes = routes;
    this.container = container;
    this.fallback = fallback;
    this.onRender = onRender;
    this.cleanup = null;
    this.active = false;
    this.renderSeq = 0;
    window.addEventListener('hashchange', () => { if (this.active) this.render(); });
  }

  start() { this.active = true; this.render(); }

  stop() {
    this.active = false;
    this._clean();
  }

  _clean() {
    if (this.cleanup) { try { this.cleanup(); } catch { /* the screen is going anyway */ } }
    this.cleanup = null;
  }

  async render() {
    const path = currentPath();
    let found = null;
    for (const [pattern, screen] of this.routes) {
      const params = match(pattern, path);
      if (params) { found = { screen, params, pattern }; break; }
    }
    if (!found) { navigate(this.fallback()); return; }
    this._clean();
    const seq = ++this.renderSeq;
    this.container.replaceChildren();
    this.container.dataset.screen = found.pattern.split('/')[1] || 'home';
    if (this.onRender) this.onRender(found.pattern, found.screen);
    document.title = `${found.screen.title} · parley`;
    let cleanup;
    try {
      cleanup = await found.screen.render(this.container, found.params);
    } catch (e) {
      // A screen that failed half-way still tells the user why, instead of going blank.
      const p = document.createElement('p');
      p.className = 'error';
      p.setAttribute('role', 'alert');
      p.textContent = `This screen could not be shown: ${e.message}`;
      this.container.append(p);
    }
    if (seq !== this.renderSeq) { if (typeof cleanup === 'function') cleanup(); return; }
    this.cleanup = typeof cleanup === 'function' ? cleanup : null;
    const heading = this.container.querySelector('h2') || document.querySelector('section:not([hidden]) h2');
    if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: false }); }
  }
}
