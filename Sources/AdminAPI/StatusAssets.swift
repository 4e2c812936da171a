/// The status page's HTML, script and style sheet, compiled in (no CDN, no external tiles: the
/// page works on a box without internet). The script builds every element with `textContent`
/// (never `innerHTML`), so names from geo_data cannot inject markup.
enum StatusAssets {
    /// The page, with the world outline (`StatusWorldMap`) inlined as an SVG path.
    static func html(landPath: String) -> String {
        #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Proxima status</title>
        <link rel="stylesheet" href="/status.css">
        </head>
        <body>
        <header><h1>Proxima</h1><span id="updated" class="muted">loading…</span></header>
        <main>
        <section class="card">
        <h2>Where answers went <span id="window" class="muted"></span></h2>
        <svg id="map" viewBox="0 5 360 145" preserveAspectRatio="xMidYMid meet" role="img"
             aria-label="World map: backends and the client regions answered by them">
        <rect x="0" y="0" width="360" height="180" class="sea"/>
        <path class="land" d="\#(landPath)"/>
        <g id="flows"></g>
        <g id="backends"></g>
        </svg>
        <p class="legend"><span class="dot up"></span>up <span class="dot down"></span>down
        <span class="dot forced"></span>forced · dot size: load · lines: client region → backend answered, with counts</p>
        </section>
        <section class="card">
        <h2>Pools and members</h2>
        <div class="scroll">
        <table id="members">
        <thead><tr><th>Pool</th><th>Member</th><th>Address</th><th>Health</th><th>Forced</th><th>Probe</th>
        <th>Load</th><th>Load age</th><th>Answers/s</th></tr></thead>
        <tbody id="members-body"></tbody>
        </table>
        </div>
        </section>
        <section class="card">
        <h2>Route an address</h2>
        <form id="route-form" autocomplete="off">
        <input id="route-ip" name="ip" placeholder="client address, e.g. 81.2.69.160" required>
        <input id="route-name" name="name" placeholder="routed name (optional)">
        <button type="submit">Route</button>
        </form>
        <pre id="route-out" class="muted">The same explanation as `proxima route IP --live`.</pre>
        </section>
        </main>
        <script src="/status.js"></script>
        </body>
        </html>

        """#
    }

    /// Shown for `GET /` without a credential: a GET form that exchanges the admin token for the
    /// session cookie (no script needed).
    static let signIn = #"""
        <!doctype html>
        <html lang="en">
        <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Proxima status: sign in</title><link rel="stylesheet" href="/status.css"></head>
        <body><main><section class="card">
        <h1>Proxima status</h1>
        <p>This page needs the admin token (<code>admin.token_env</code> or <code>admin.token_file</code>).
        It is exchanged once for a read-only session cookie; the page cannot change anything.</p>
        <form method="get" action="/"><input type="password" name="token" placeholder="admin token" required>
        <button type="submit">Open</button></form>
        </section></main></body>
        </html>

        """#

    /// Polls `/status.json` every 3 seconds and redraws the map and the table in place.
    static let script = #"""
        'use strict';
        (function () {
          const SVG = 'http://www.w3.org/2000/svg';
          const POLL_MS = 3000;
          const $ = (id) => document.getElementById(id);
          let updates = 0;

          function svg(name, attrs, text) {
            const e = document.createElementNS(SVG, name);
            for (const k of Object.keys(attrs)) e.setAttribute(k, String(attrs[k]));
            if (text !== undefined) e.textContent = text;
            return e;
          }
          function td(text, cls) {
            const e = document.createElement('td');
            e.textContent = text;
            if (cls) e.className = cls;
            return e;
          }
          const x = (lon) => lon + 180;
          const y = (lat) => 90 - lat;
          // Reports are fractions (0.42) or percentages (42).
          const loadFraction = (l) => (l == null ? null : Math.max(0, Math.min(l > 1 ? l / 100 : l, 1)));
          function age(s) {
            if (s == null) return '–';
            if (s < 60) return s.toFixed(1) + ' s';
            return Math.round(s / 60) + ' min';
          }
          function label(m) { return m.name || m.address; }

          function renderTable(doc) {
            const rows = [];
            for (const pool of doc.pools) {
              for (const m of pool.members) {
                const tr = document.createElement('tr');
                tr.dataset.address = m.address;
                tr.dataset.pool = pool.name;
                tr.className = m.health;
                tr.append(td(pool.name), td(m.name || ''), td(m.address, 'mono'),
                  td(m.health, 'health ' + m.health), td(m.forced || '', 'forced'), td(m.probe_health),
                  td(m.load == null ? '–' : String(m.load) + (m.stale ? ' (stale)' : '')),
                  td(age(m.load_age_seconds)),
                  td(m.answers_per_second == null ? '–' : m.answers_per_second.toFixed(1), 'num'));
                rows.push(tr);
              }
            }
            $('members-body').replaceChildren(...rows);
          }

          function renderMap(doc) {
            const backends = new Map();
            for (const pool of doc.pools) for (const m of pool.members) if (!backends.has(m.address)) backends.set(m.address, m);
            const flows = (doc.flows || []).filter((f) => backends.has(f.address)).slice(0, 300);
            const max = flows.reduce((a, f) => Math.max(a, f.count), 1);
            const lines = [];
            const cells = new Map();
            for (const f of flows) {
              const b = backends.get(f.address);
              const w = 0.25 + 1.5 * Math.sqrt(f.count / max);
              const line = svg('line', { x1: x(f.longitude), y1: y(f.latitude), x2: x(b.longitude), y2: y(b.latitude),
                'stroke-width': w.toFixed(2), class: 'flow ' + b.health });
              line.append(svg('title', {}, f.count + ' answers → ' + label(b)));
              lines.push(line);
              const key = f.latitude + ',' + f.longitude;
              cells.set(key, { lat: f.latitude, lon: f.longitude, count: (cells.get(key) || { count: 0 }).count + f.count });
            }
            for (const c of cells.values()) {
              const g = svg('g', { class: 'cell' });
              g.append(svg('circle', { cx: x(c.lon), cy: y(c.lat), r: 1.2 }));
              g.append(svg('text', { x: x(c.lon) + 1.6, y: y(c.lat) - 1.2 }, String(c.count)));
              g.firstChild.append(svg('title', {}, c.count + ' answers to clients near ' + c.lat + ', ' + c.lon));
              lines.push(g);
            }
            $('flows').replaceChildren(...lines);
            const dots = [];
            for (const b of backends.values()) {
              const load = loadFraction(b.load);
              const r = 2 + 4 * (load == null ? 0 : load);
              const g = svg('g', { class: 'backend ' + b.health + (b.forced ? ' forced' : ''), 'data-address': b.address });
              const dot = svg('circle', { cx: x(b.longitude), cy: y(b.latitude), r: r.toFixed(2) });
              dot.append(svg('title', {}, label(b) + ' (' + b.address + '): ' + b.health +
                (b.forced ? ', forced ' + b.forced : '') + (load == null ? '' : ', load ' + b.load)));
              g.append(dot, svg('text', { x: x(b.longitude) + r + 1, y: y(b.latitude) + 1.5 }, label(b)));
              dots.push(g);
            }
            $('backends').replaceChildren(...dots);
            const total = flows.reduce((a, f) => a + f.count, 0);
            $('window').textContent = doc.window_seconds == null ? '' :
              '· ' + total + ' answers in the last ' + age(doc.window_seconds);
          }

          async function poll() {
            try {
              const r = await fetch('/status.json', { cache: 'no-store', credentials: 'same-origin' });
              if (r.status === 401) {
                $('updated').textContent = 'signed out (the server restarted?): open /?token=… again';
                document.body.dataset.state = 'signed-out';
                return;
              }
              if (!r.ok) throw new Error('HTTP ' + r.status);
              const doc = await r.json();
              renderTable(doc);
              renderMap(doc);
              updates += 1;
              document.body.dataset.updates = String(updates);
              document.body.dataset.state = 'live';
              $('updated').textContent = 'live · updated ' + new Date().toLocaleTimeString();
            } catch (e) {
              document.body.dataset.state = 'error';
              $('updated').textContent = 'cannot reach the server (' + e.message + '); retrying';
            }
            setTimeout(poll, POLL_MS);
          }

          $('route-form').addEventListener('submit', async (event) => {
            event.preventDefault();
            const out = $('route-out');
            const params = new URLSearchParams({ ip: $('route-ip').value.trim(), format: 'text' });
            const name = $('route-name').value.trim();
            if (name) params.set('name', name);
            out.className = '';
            out.textContent = '…';
            try {
              const r = await fetch('/route?' + params.toString(), { cache: 'no-store', credentials: 'same-origin' });
              const text = await r.text();
              if (r.ok) { out.textContent = text; return; }
              let message = text;
              try { message = JSON.parse(text).error || text; } catch (_) { /* not JSON */ }
              out.className = 'error';
              out.textContent = message;
            } catch (e) {
              out.className = 'error';
              out.textContent = String(e);
            }
          });

          poll();
        })();

        """#

    /// Light and dark, one column on a phone.
    static let style = #"""
        :root { --up: #2e9d4f; --down: #d33a2f; --forced: #d08a00; --fg: #1d2329; --muted: #68737d;
                --bg: #f4f6f8; --card: #fff; --sea: #dfe9f2; --land: #c3cdd6; --line: #3b6ea5; }
        @media (prefers-color-scheme: dark) {
          :root { --fg: #e4e8ec; --muted: #98a3ad; --bg: #15191d; --card: #1f252b; --sea: #1b2a38;
                  --land: #3a4652; --line: #79a8dc; }
        }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
        header { display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; padding: .75rem 1rem; }
        h1 { font-size: 1.3rem; margin: 0; }
        h2 { font-size: 1.05rem; margin: 0 0 .5rem; }
        main { display: grid; grid-template-columns: minmax(0, 1fr); gap: 1rem; padding: 0 1rem 1rem; max-width: 1200px; margin: 0 auto; }
        .card { min-width: 0; background: var(--card); border-radius: 8px; padding: .75rem 1rem; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
        .muted { color: var(--muted); font-weight: normal; }
        #map { width: 100%; height: auto; display: block; border-radius: 4px; }
        .sea { fill: var(--sea); }
        .land { fill: var(--land); stroke: none; }
        .flow { stroke: var(--line); stroke-opacity: .55; stroke-linecap: round; }
        .flow.down { stroke: var(--down); }
        .cell circle { fill: var(--line); }
        .cell text { font-size: 3px; fill: var(--fg); }
        .backend circle { fill: var(--up); stroke: var(--card); stroke-width: .5; }
        .backend.down circle { fill: var(--down); }
        .backend.forced circle { stroke: var(--forced); stroke-width: .9; stroke-dasharray: 1 .6; }
        .backend text { font-size: 3.6px; font-weight: 600; fill: var(--fg); paint-order: stroke;
                        stroke: var(--card); stroke-width: .6px; }
        .legend { font-size: .85rem; color: var(--muted); margin: .4rem 0 0; }
        .dot { display: inline-block; width: .7em; height: .7em; border-radius: 50%; margin: 0 .2em 0 .6em; }
        .dot.up { background: var(--up); } .dot.down { background: var(--down); }
        .dot.forced { border: 2px dashed var(--forced); }
        .scroll { overflow-x: auto; }
        table { border-collapse: collapse; width: 100%; font-size: .9rem; }
        th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid rgba(127,127,127,.25); white-space: nowrap; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        .mono, pre { font-family: ui-monospace, monospace; }
        td.health.up { color: var(--up); font-weight: 600; }
        td.health.down { color: var(--down); font-weight: 600; }
        tr.down { background: rgba(211,58,47,.08); }
        form { display: flex; flex-wrap: wrap; gap: .5rem; }
        input { flex: 1 1 12rem; padding: .4rem; font: inherit; }
        button { padding: .4rem 1rem; font: inherit; }
        pre { overflow-x: auto; font-size: .8rem; margin: .75rem 0 0; }
        pre.error { color: var(--down); }
        @media (max-width: 600px) {
          main { padding: 0 .5rem .5rem; } .card { padding: .5rem; } body { font-size: 14px; }
          .backend text { font-size: 7px; } .cell text { font-size: 6px; }
        }

        """#
}
