import Foundation

/// The site's only stylesheet, served at `/assets/site.css`: no framework, no web fonts, nothing fetched
/// from elsewhere. Warm paper and espresso colours, a terracotta accent, readable from 320 px up.
enum Stylesheet {
    static let path = "/assets/site.css"

    static let css = """
        :root {
          --paper: #fbf6ee; --card: #fffdf9; --ink: #2d2420; --muted: #6b5d54; --line: #e6d9c9;
          --accent: #a4472b; --accent-dark: #7f3520; --accent-soft: #f6e3d9;
          --sage: #47674a; --sage-soft: #e3eee0; --amber: #8a5a00; --amber-soft: #fbefd2;
          --error: #a8261c; --error-soft: #fbe9e6; --focus: #1f5fbf;
          --serif: "Iowan Old Style", "Palatino Linotype", Palatino, "Book Antiqua", Georgia, serif;
          --sans: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
          color-scheme: light;
        }
        * { box-sizing: border-box; }
        html { -webkit-text-size-adjust: 100%; }
        body { margin: 0; background: var(--paper); color: var(--ink); font: 1.0625rem/1.55 var(--sans); }
        a { color: var(--accent-dark); text-underline-offset: 0.15em; }
        a:hover { color: var(--accent); }
        :focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
        h1, h2, h3 { font-family: var(--serif); font-weight: 600; line-height: 1.2; letter-spacing: 0.005em; }
        h1 { font-size: clamp(1.9rem, 5vw, 2.6rem); margin: 0 0 0.4rem; }
        h2 { font-size: 1.45rem; margin: 2rem 0 0.75rem; }
        .wrap { max-width: 48rem; margin: 0 auto; padding: 0 1.25rem; }
        .wrap.wide { max-width: 60rem; }
        .skip { position: absolute; left: -999px; top: 0; background: var(--ink); color: #fff; padding: 0.5rem 1rem; z-index: 2; }
        .skip:focus { left: 0.5rem; top: 0.5rem; }

        .site-header { background: var(--ink); color: #f7efe4; }
        .site-header .wrap { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: 0.5rem 1.5rem; padding-top: 0.9rem; padding-bottom: 0.9rem; }
        .brand { display: inline-flex; align-items: center; gap: 0.6rem; color: #fff8ee; text-decoration: none; font-family: var(--serif); font-size: 1.35rem; font-weight: 600; }
        .brand:hover { color: #ffe3cf; }
        .brand svg { width: 1.9rem; height: 1.9rem; flex: none; }
        .site-header nav { display: flex; gap: 0.25rem; flex-wrap: wrap; }
        .site-header nav a { color: #f2e6d8; text-decoration: none; padding: 0.35rem 0.8rem; border-radius: 999px; font-size: 0.95rem; }
        .site-header nav a:hover { background: rgba(255, 255, 255, 0.1); color: #fff; }
        .site-header nav a[aria-current="page"] { background: var(--accent); color: #fff; }
        .site-header nav form.signout { display: inline; margin: 0; }
        .site-header nav form.signout button { background: transparent; color: #f2e6d8; padding: 0.35rem 0.8rem; min-height: 0; font-weight: 400; font-size: 0.95rem; border-radius: 999px; width: auto; }
        .site-header nav form.signout button:hover { background: rgba(255, 255, 255, 0.1); color: #fff; }

        .hero { background: linear-gradient(180deg, #f3e6d6 0%, var(--paper) 100%); border-bottom: 1px solid var(--line); padding: 2.25rem 0 1.75rem; }
        .hero p.lead { font-size: 1.15rem; color: var(--muted); margin: 0; max-width: 36rem; }
        main { padding-bottom: 3rem; }
        main > .wrap { padding-top: 1.75rem; }

        .card { background: var(--card); border: 1px solid var(--line); border-radius: 16px; padding: 1.5rem; box-shadow: 0 1px 2px rgba(45, 36, 32, 0.05), 0 8px 24px rgba(45, 36, 32, 0.06); }
        .card + .card { margin-top: 1.5rem; }
        .card h2.first { margin-top: 0; }

        form .field { margin-bottom: 1.15rem; }
        form .row { display: grid; grid-template-columns: 1fr; gap: 0 1rem; }
        @media (min-width: 36rem) { form .row { grid-template-columns: 1fr 2fr; } }
        label, .label { display: block; font-weight: 600; margin-bottom: 0.3rem; }
        .hint { display: block; color: var(--muted); font-size: 0.92rem; margin: -0.15rem 0 0.4rem; }
        input[type="text"], input[type="number"], input[type="datetime-local"], input[type="date"], textarea {
          width: 100%; font: inherit; color: inherit; background: #fff; border: 1.5px solid #cdbdaa; border-radius: 10px; padding: 0.65rem 0.75rem; min-height: 2.9rem; }
        textarea { min-height: 6rem; resize: vertical; }
        input:focus, textarea:focus { border-color: var(--accent); outline: 3px solid rgba(164, 71, 43, 0.25); outline-offset: 0; }
        [aria-invalid="true"] { border-color: var(--error) !important; background: #fffafa; }
        .field-error { color: var(--error); font-weight: 600; font-size: 0.95rem; margin: 0.35rem 0 0; }
        .check { display: grid; grid-template-columns: auto 1fr; gap: 0.1rem 0.65rem; align-items: start; background: var(--paper); border: 1px dashed var(--line); border-radius: 12px; padding: 0.8rem 0.9rem; }
        .check input { width: 1.25rem; height: 1.25rem; margin: 0.2rem 0 0; accent-color: var(--accent); }
        .check label { margin: 0; }
        .check small { grid-column: 2; color: var(--muted); font-size: 0.9rem; }
        button, .button { display: inline-block; font: inherit; font-weight: 600; border: 0; border-radius: 999px; padding: 0.8rem 1.6rem; background: var(--accent); color: #fff; cursor: pointer; text-decoration: none; min-height: 2.9rem; }
        button:hover, .button:hover { background: var(--accent-dark); color: #fff; }
        .button.secondary { background: transparent; color: var(--accent-dark); border: 1.5px solid var(--accent); }
        .button.secondary:hover { background: var(--accent-soft); color: var(--accent-dark); }
        .actions { display: flex; flex-wrap: wrap; gap: 0.75rem; align-items: center; margin-top: 1.5rem; }
        @media (max-width: 30rem) { form button { width: 100%; } }

        .error-summary { border: 2px solid var(--error); background: var(--error-soft); border-radius: 12px; padding: 0.9rem 1.1rem; margin-bottom: 1.25rem; }
        .error-summary h2 { font-size: 1.15rem; margin: 0 0 0.4rem; color: var(--error); }
        .error-summary ul { margin: 0; padding-left: 1.2rem; }
        .error-summary a { color: var(--error); font-weight: 600; }

        .banner { border-radius: 12px; padding: 0.85rem 1.1rem; margin: 0 0 1.25rem; border: 1px solid; }
        .banner.local { background: var(--amber-soft); border-color: #e7c77b; color: #4d3600; }
        .banner strong { display: block; }

        .steps { display: grid; gap: 1rem; grid-template-columns: 1fr; padding: 0; list-style: none; counter-reset: step; margin: 0; }
        @media (min-width: 40rem) { .steps { grid-template-columns: repeat(3, 1fr); } }
        .steps li { counter-increment: step; padding-left: 2.6rem; position: relative; color: var(--muted); font-size: 0.96rem; }
        .steps li::before { content: counter(step); position: absolute; left: 0; top: 0; width: 1.9rem; height: 1.9rem; border-radius: 50%; background: var(--accent-soft); color: var(--accent-dark); font-weight: 700; display: grid; place-items: center; }
        .steps strong { display: block; color: var(--ink); }

        .state { display: inline-block; font-weight: 700; font-size: 0.85rem; letter-spacing: 0.04em; text-transform: uppercase; border-radius: 999px; padding: 0.2rem 0.7rem; }
        .state.pending { background: var(--amber-soft); color: var(--amber); }
        .state.confirmed { background: var(--sage-soft); color: var(--sage); }
        .state.duplicate { background: #e8e4f3; color: #4a3f7a; }
        .state.cancelled { background: #f1e3e3; color: #8a2b2b; }
        tr.cancelled td.name, tr.cancelled td.time { text-decoration: line-through; }
        form.cancel { margin-top: 1rem; }
        form.cancel .field { margin-bottom: 0.75rem; }
        .signed-in { color: var(--muted); margin: 0 0 1rem; }
        .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
        .status-head { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem 1rem; margin-bottom: 0.25rem; }
        .status-head h1 { margin: 0; }
        .muted { color: var(--muted); }
        .reference { font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; font-size: 0.95em; background: var(--paper); border: 1px solid var(--line); border-radius: 6px; padding: 0.05rem 0.35rem; overflow-wrap: anywhere; }
        dl.details { display: grid; grid-template-columns: max-content 1fr; gap: 0.45rem 1.25rem; margin: 1.25rem 0 0; }
        dl.details dt { color: var(--muted); }
        dl.details dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; white-space: pre-line; }
        @media (max-width: 30rem) { dl.details { grid-template-columns: 1fr; gap: 0.1rem; } dl.details dd { margin-bottom: 0.6rem; } }
        ol.timeline { list-style: none; margin: 0.5rem 0 0; padding: 0 0 0 1.4rem; border-left: 2px solid var(--line); }
        ol.timeline li { position: relative; margin: 0 0 1rem; }
        ol.timeline li::before { content: ""; position: absolute; left: -1.85rem; top: 0.35rem; width: 0.8rem; height: 0.8rem; border-radius: 50%; background: var(--line); border: 2px solid var(--card); }
        ol.timeline li.done::before { background: var(--sage); }
        ol.timeline li.trouble::before { background: #d08a2a; }
        ol.timeline li.waiting::before { background: #fff; border-color: #cdbdaa; }
        ol.timeline .when { display: block; color: var(--muted); font-size: 0.92rem; }

        .filters { display: flex; flex-wrap: wrap; gap: 0.75rem 1rem; align-items: flex-end; }
        .filters .field { margin: 0; }
        .filters input[type="number"] { width: 6.5rem; }
        .day h2 { border-bottom: 1px solid var(--line); padding-bottom: 0.35rem; }
        .table-wrap { overflow-x: auto; }
        table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 12px; overflow: hidden; }
        th, td { text-align: left; padding: 0.6rem 0.8rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { font-size: 0.85rem; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); background: #f7efe4; }
        tr:last-child td { border-bottom: 0; }
        td.time { font-variant-numeric: tabular-nums; font-weight: 700; white-space: nowrap; }
        td.people { font-variant-numeric: tabular-nums; }
        td.notes { color: var(--muted); overflow-wrap: anywhere; white-space: pre-line; }
        td.name { overflow-wrap: anywhere; }

        .site-footer { border-top: 1px solid var(--line); color: var(--muted); font-size: 0.9rem; padding: 1.25rem 0 2rem; }
        .site-footer p { margin: 0.25rem 0; }
        """
}

/// The site's icon, a cup of coffee, served at `/favicon.svg` and drawn inline in the header.
enum CupIcon {
    /// The icon as a file of its own, which needs the SVG namespace.
    static let svg = inline.replacingOccurrences(of: "<svg ", with: "<svg xmlns=\"http://www.w3.org/2000/svg\" ")

    /// The icon inside a page, where HTML supplies the namespace.
    static let inline = """
        <svg viewBox="0 0 32 32" aria-hidden="true" focusable="false">\
        <path d="M11 3c-1 1.5 1 2.5 0 4M16 3c-1 1.5 1 2.5 0 4M21 3c-1 1.5 1 2.5 0 4" fill="none" stroke="#e9b48f" stroke-width="1.6" stroke-linecap="round"/>\
        <path d="M5 11h20v7a8 8 0 0 1-8 8h-4a8 8 0 0 1-8-8z" fill="#c8643f"/>\
        <path d="M25 13h1.5a3.5 3.5 0 0 1 0 7H24" fill="none" stroke="#c8643f" stroke-width="2.2"/>\
        <path d="M3 28h24" stroke="#e9b48f" stroke-width="2" stroke-linecap="round"/></svg>
        """
}
