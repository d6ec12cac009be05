#!/usr/bin/env python3
"""Check the built site in a real browser, offline.

    python tools/site_check.py                  # build the site (strict), check it
    python tools/site_check.py --site .ci-site  # check a site already built
    python tools/site_check.py --site DIR --screenshot tutorials/06_separation/ \\
        --width 390 --height 844 --out /tmp/mobile.png

Every page of the site is served from 127.0.0.1 and opened in headless Chromium
(Debian's ``chromium``), driven through the DevTools protocol over a pipe (no
extra Python package). No host name resolves in that browser except 127.0.0.1,
so the site must work offline; the protocol reports each request the page makes,
with its answer. Once a page has loaded and MathJax has finished, its final DOM
is read back and checked.

A page fails, with a message naming the page and the problem, on:

- raw math: ``$…$``, ``$$…$$``, ``\\(…\\)`` or ``\\[…\\]`` left in the text of
  the page (outside code), a math element (``arithmatex``) without rendered
  math, a TeX error, math on a page where MathJax did not run;
- a raw Sphinx role (``:func:`x```) left in the text;
- an image that is missing or does not load;
- fewer ``<audio>`` elements than the page's notebook has audio outputs (the
  notebook is the ``.ipynb`` that mkdocs-jupyter copies beside the page), or an
  ``<audio>`` that cannot play;
- a request to another host, or an element that points at one (``src``,
  ``href`` of ``<link>``, ``url()`` in a style; plain links ``<a href>`` are
  navigation, not requests, and are allowed);
- a request that fails or that the local server answers with 404 (or any error);
- an uncaught JavaScript error;
- a link to a page, file or anchor of the site that does not exist;
- a page wider than the window (content that overflows, e.g. at 390 px).

It prints a table with one row per page and exits 1 if any page failed, 2 if
Chromium cannot run.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import functools
import http.server
import json
import os
import posixpath
import queue
import re
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Evaluated in each page once it has loaded: waits for MathJax (when the page
# has it) and for the <audio> elements to load their metadata, then returns what
# only the browser knows, and the final DOM.
PAGE_REPORT_JS = r"""
(async () => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const report = {};
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) {
    try {
      await Promise.race([mj.startup.promise, sleep(%(timeout_ms)d).then(() => { throw "timed out"; })]);
    } catch (e) { report.mathjaxError = String(e); }
  }
  report.mathjax = !!(window.MathJax && window.MathJax.startup && window.MathJax.startup.document);
  const audios = Array.from(document.querySelectorAll("audio"));
  for (let t = 0; t < 50 && audios.some((a) => a.readyState < 1 && !a.error); t++) await sleep(100);
  report.audio = audios.map((a) => ({error: a.error ? a.error.code : null, ready: a.readyState,
                                     duration: a.duration}));
  report.brokenImages = Array.from(document.images)
    .filter((img) => !(img.complete && img.naturalWidth > 0))
    .map((img) => (img.getAttribute("src") || "").slice(0, 120));
  report.overflow = Math.max(0, document.documentElement.scrollWidth - window.innerWidth);
  report.html = document.documentElement.outerHTML;
  return report;
})()
"""

# code blocks; the hidden copy of a notebook cell's source that its copy button copies
SKIP_CLASSES = {"highlight", "clipboard-copy-txt"}
SKIP_TEXT_TAGS = {"code", "pre", "script", "style", "textarea", "kbd", "samp", "svg", "math", "noscript"}
MATH_RE = re.compile(
    r"\$\$.+?\$\$"
    r"|(?<![\\$\w])\$(?!\s)[^$\n]{1,300}?(?<![\s\\])\$(?!\w)"  # $…$
    r"|\\\(.+?\\\)"
    r"|\\\[.+?\\\]",
    re.DOTALL,
)
ROLE_RE = re.compile(r":(?:py:)?(?:func|class|meth|attr|mod|data|obj|exc|const):`")
URL_ATTRS = ("src", "href", "srcset", "poster", "data", "action", "formaction", "background")
CSS_URL_RE = re.compile(r"url\(\s*['\"]?([^'\")]+)")
INLINE_TAGS = {"span", "a", "em", "strong", "b", "i", "code", "sub", "sup", "abbr", "mark", "small", "autoref"}


# --------------------------------------------------------------------------- the site's server


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def serve(site: Path) -> _Server:
    """Serve ``site`` on 127.0.0.1 (a free port) from a thread."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # the DevTools protocol reports requests
            pass

        def end_headers(self):
            self.send_header("Cache-Control", "no-store")
            super().end_headers()

    server = _Server(("127.0.0.1", 0), functools.partial(Handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --------------------------------------------------------------------------- Chromium over the DevTools pipe


def find_chromium(explicit: str | None) -> str:
    names = [explicit] if explicit else ["chromium", "chromium-browser", "google-chrome", "chrome"]
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    print(
        f"site_check: Chromium not found (tried {', '.join(names)}); install it: apt-get install -y chromium",
        file=sys.stderr,
    )
    sys.exit(2)


class CDPError(RuntimeError):
    pass


# Runs in the child before Chromium: the pipe ends (fds >= 10) become fds 3 and 4.
_FD_TRAMPOLINE = (
    "import os, sys; r, w = int(sys.argv[1]), int(sys.argv[2]); os.dup2(r, 3); os.dup2(w, 4); "
    "os.close(r); os.close(w); os.execvp(sys.argv[3], sys.argv[3:])"
)


class Browser:
    """Headless Chromium driven through ``--remote-debugging-pipe``.

    Commands go to the browser's fd 3, answers and events come from its fd 4,
    as JSON messages ended by a NUL byte.
    """

    def __init__(self, chromium: str, profile: str):
        # The browser reads commands on its fd 3 and writes on its fd 4; the pipe
        # ends are moved above 9 first, so that putting them there cannot clash.
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        child_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)
        args = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--mute-audio",
            "--hide-scrollbars",
            # Several pages at once, each as if it were the visible one.
            "--disable-background-timer-throttling",
            "--disable-backgrounding-occluded-windows",
            "--disable-renderer-backgrounding",
            f"--user-data-dir={profile}",
            # Offline: no host name resolves but 127.0.0.1, and nothing is cached.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--disk-cache-size=1",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _FD_TRAMPOLINE, str(child_r), str(child_w), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            pass_fds=(child_r, child_w),
        )
        os.close(child_r)
        os.close(child_w)
        self._next_id = 0
        self._lock = threading.Lock()
        self._waiting: dict[int, Future] = {}
        self._events: dict[str, queue.Queue] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_browser, 1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    future = self._waiting.pop(message["id"], None)
                    if future is not None:
                        future.set_result(message)
                else:
                    events = self._events.get(message.get("sessionId", ""))
                    if events is not None:
                        events.put(message)
        for future in list(self._waiting.values()):
            future.set_exception(CDPError("Chromium closed the DevTools pipe"))

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60):
        with self._lock:
            self._next_id += 1
            message = {"id": self._next_id, "method": method, "params": params or {}}
            if session:
                message["sessionId"] = session
            future: Future = Future()
            self._waiting[self._next_id] = future
            os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        answer = future.result(timeout)
        if "error" in answer:
            raise CDPError(f"{method}: {answer['error'].get('message')}")
        return answer["result"]

    def open_tab(self) -> Tab:
        target = self.send("Target.createTarget", {"url": "about:blank", "newWindow": True})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self._events[session] = queue.Queue()
        return Tab(self, session)

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-2000:]


@dataclass
class Visit:
    report: dict
    requests: dict  # requestId -> {"url", "status", "failed"}
    exceptions: list[str]
    seconds: float


class Tab:
    def __init__(self, browser: Browser, session: str):
        self.browser, self.session = browser, session
        for domain in ("Page", "Network", "Runtime"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setFocusEmulationEnabled", {"enabled": True})

    def send(self, method, params=None, timeout=60):
        return self.browser.send(method, params, self.session, timeout)

    def resize(self, width: int, height: int):
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
        )

    def visit(self, url: str, timeout: float) -> Visit:
        events = self.browser._events[self.session]
        while not events.empty():
            events.get_nowait()
        start = time.monotonic()
        nav = self.send("Page.navigate", {"url": url})
        if nav.get("errorText"):
            raise CDPError(f"navigation failed: {nav['errorText']}")
        loader = nav.get("loaderId")
        requests: dict[str, dict] = {}
        exceptions: list[str] = []

        def take(event):
            method, params = event["method"], event.get("params", {})
            if method == "Network.requestWillBeSent" and params.get("loaderId") in (loader, None):
                requests.setdefault(params["requestId"], {"url": params["request"]["url"]})
            elif method == "Network.responseReceived" and params["requestId"] in requests:
                requests[params["requestId"]]["status"] = params["response"]["status"]
            elif method == "Network.loadingFailed" and params["requestId"] in requests:
                if not params.get("canceled"):
                    requests[params["requestId"]]["failed"] = params.get("errorText", "failed")
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                text = details.get("exception", {}).get("description") or details.get("text", "")
                exceptions.append(text.splitlines()[0][:200] if text else "?")
            return method == "Page.loadEventFired"

        loaded = False
        while not loaded:
            left = timeout - (time.monotonic() - start)
            if left <= 0:
                raise CDPError(f"the page did not load within {timeout:.0f} s")
            try:
                loaded = take(events.get(timeout=left))
            except queue.Empty:
                continue
        expression = PAGE_REPORT_JS % {"timeout_ms": int(timeout * 1000 / 2)}
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            raise CDPError(f"the page report failed: {result['exceptionDetails'].get('text')}")
        time.sleep(0.05)
        while not events.empty():
            take(events.get_nowait())
        return Visit(result["result"]["value"], requests, exceptions, time.monotonic() - start)

    def screenshot(self) -> bytes:
        return base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])


# --------------------------------------------------------------------------- DOM analysis


@dataclass
class Dom:
    """What the checks need from a page's final DOM."""

    ids: set[str] = field(default_factory=set)
    raw_math: list[str] = field(default_factory=list)
    raw_roles: list[str] = field(default_factory=list)
    math_rendered: int = 0
    arithmatex_unrendered: list[str] = field(default_factory=list)
    tex_errors: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    audio: int = 0
    links: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)  # URLs the page loads
    empty_src: list[str] = field(default_factory=list)  # <script src=""> loads the page itself


class _DomParser(HTMLParser):
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.dom = Dom()
        self.stack: list[tuple[str, bool]] = []  # (tag, skips its text)
        self.skip = 0
        self.text: list[str] = []
        self.arith: list[list] = []  # open math elements: [depth, rendered, text]
        self.merror: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = {k: (v or "") for k, v in attrs}
        dom, classes = self.dom, attrs.get("class", "").split()
        for key in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(key):
                dom.ids.add(attrs[key])
        if tag == "img":
            dom.images.append(attrs.get("src", ""))
        elif tag == "audio":
            dom.audio += 1
        elif tag == "mjx-container":
            dom.math_rendered += 1
            for open_math in self.arith:
                open_math[1] = True
        elif tag == "mjx-merror":
            self.merror = [attrs.get("data-mjx-error", "")]
        if tag in ("script", "img", "iframe", "source", "audio", "video") and attrs.get("src", None) == "":
            dom.empty_src.append(tag)
        if tag in ("a", "area"):
            if attrs.get("href"):
                dom.links.append(attrs["href"])
        else:
            for key in URL_ATTRS:
                value = attrs.get(key)
                if value:
                    dom.resources += [v.split()[0] for v in value.split(",") if v.split()] if key == "srcset" else [value]
        if attrs.get("style"):
            dom.resources += CSS_URL_RE.findall(attrs["style"])
        if tag in self.VOID:
            return
        if "arithmatex" in classes:
            self.arith.append([len(self.stack), False, []])
        skips = tag in SKIP_TEXT_TAGS or tag.startswith("mjx-") or not SKIP_CLASSES.isdisjoint(classes)
        self.skip += skips
        self.stack.append((tag, skips))

    def handle_endtag(self, tag):
        if tag in self.VOID or not any(t == tag for t, _ in self.stack):
            return
        while self.stack:
            t, skips = self.stack.pop()
            self.skip -= skips
            if t == "mjx-merror" and self.merror is not None:
                message = self.merror[0] or "".join(self.merror[1:])  # data-mjx-error, else the text
                self.dom.tex_errors.append(" ".join(message.split())[:160])
                self.merror = None
            if self.arith and self.arith[-1][0] == len(self.stack):
                _, rendered, text = self.arith.pop()
                if not rendered:
                    self.dom.arithmatex_unrendered.append(" ".join("".join(text).split())[:80])
            if t not in INLINE_TAGS:
                self._flush()
            if t == tag:
                break

    def handle_data(self, data):
        if self.merror is not None:
            self.merror.append(data)
        for open_math in self.arith:
            open_math[2].append(data)
        if not self.skip:
            self.text.append(data)
        elif self.stack and self.stack[-1][0] == "style":
            self.dom.resources += CSS_URL_RE.findall(data)

    def _flush(self):
        text, self.text = "".join(self.text), []
        if "$" in text or "\\" in text:
            self.dom.raw_math += [" ".join(m.group(0).split())[:80] for m in MATH_RE.finditer(text)]
        if ":`" in text:
            self.dom.raw_roles += [text[max(0, m.start() - 20) : m.end() + 30] for m in ROLE_RE.finditer(text)]

    def close(self):
        super().close()
        self._flush()


def parse_dom(html: str) -> Dom:
    parser = _DomParser()
    parser.feed(html)
    parser.close()
    return parser.dom


def expected_audio(notebook: Path) -> int:
    """How many ``<audio>`` players the notebook's outputs should give."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    count = 0
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            html = data.get("text/html")
            if html is not None:
                count += len(re.findall(r"<audio\b", "".join(html) if isinstance(html, list) else html))
            elif any(mime.startswith("audio/") for mime in data):
                count += 1
    return count


def is_external(url: str) -> bool:
    url = url.strip()
    if url.startswith("//"):
        url = "http:" + url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("", "data", "blob", "javascript", "about", "mailto"):
        return False
    return parts.hostname not in ("127.0.0.1", "localhost")


# --------------------------------------------------------------------------- checking a page


@dataclass
class PageResult:
    page: str
    seconds: float = 0.0
    math: int = 0
    images: int = 0
    audio: str = "-"
    local: int = 0
    external: int = 0
    problems: list[str] = field(default_factory=list)
    dom: Dom | None = None


def check_page(site: Path, page: str, visit: Visit) -> PageResult:
    result = PageResult(page, seconds=visit.seconds)
    report = visit.report
    dom = result.dom = parse_dom(report["html"])
    problems = result.problems
    result.math, result.images = dom.math_rendered, len(dom.images)

    # math
    if report.get("mathjaxError"):
        problems.append(f"MathJax did not finish: {report['mathjaxError']}")
    if (dom.math_rendered or dom.arithmatex_unrendered or dom.raw_math) and not report.get("mathjax"):
        problems.append("the page has math but MathJax did not run")
    for label, items in (
        ("raw math in the text", dom.raw_math),
        ("math element not rendered", dom.arithmatex_unrendered),
        ("TeX error", dom.tex_errors),
        ("raw Sphinx role", dom.raw_roles),
    ):
        problems += [f"{label}: {text!r}" for text in items[:5]]
        if len(items) > 5:
            problems.append(f"... and {len(items) - 5} more ({label})")

    # images and audio
    problems += [f"image does not load: {src[:80]!r}" for src in report.get("brokenImages", [])]
    notebooks = sorted((site / page).parent.glob("*.ipynb")) if page.endswith("index.html") else []
    if notebooks:
        want = expected_audio(notebooks[0])
        result.audio = f"{dom.audio}/{want}"
        if dom.audio < want:
            problems.append(f"{notebooks[0].name} has {want} audio outputs but the page {dom.audio} <audio>")
    elif dom.audio:
        result.audio = str(dom.audio)
    for i, audio in enumerate(report.get("audio", []), 1):
        if audio.get("error") or not audio.get("ready"):
            problems.append(f"<audio> #{i} cannot play (error {audio.get('error')}, readyState {audio.get('ready')})")

    # requests
    for request in visit.requests.values():
        url = request["url"]
        if url.startswith("data:"):
            continue
        if is_external(url):
            result.external += 1
            problems.append(f"request to another host: {url[:120]}")
            continue
        result.local += 1
        path = urllib.parse.urlsplit(url).path
        if request.get("status", 200) >= 400:
            problems.append(f"local server answered {request['status']}: {path}")
        elif request.get("failed"):
            problems.append(f"request failed ({request['failed']}): {path}")
    problems += [f"points at another host: {url[:100]}" for url in sorted(set(filter(is_external, dom.resources)))]

    problems += [f'<{tag} src=""> (it requests the page itself)' for tag in sorted(set(dom.empty_src))]

    # scripts, layout
    problems += [f"JavaScript error: {text}" for text in visit.exceptions]
    if report.get("overflow", 0) > 1:
        problems.append(f"the page is {report['overflow']} px wider than the window")
    return result


def check_links(site: Path, results: dict[str, PageResult]) -> None:
    """Links to pages, files and anchors of the site that do not exist."""
    ids = {page: r.dom.ids for page, r in results.items() if r.dom is not None}
    for page, result in results.items():
        if result.dom is None:
            continue
        bad: set[str] = set()
        for href in result.dom.links:
            parts = urllib.parse.urlsplit(href)
            if parts.scheme or parts.netloc:
                continue
            path = urllib.parse.unquote(parts.path)
            # the site is served at the server's root: "/x/" is the site's x/
            target = posixpath.normpath(posixpath.join("/" + posixpath.dirname(page), path))[1:] if path else page
            if path and (path.endswith("/") or (site / target).is_dir()):
                target = posixpath.join(target, "index.html")
            if not (site / target).is_file():
                bad.add(f"link to a missing file: {href}")
            elif parts.fragment and target in ids and urllib.parse.unquote(parts.fragment) not in ids[target]:
                bad.add(f"link to a missing anchor: {href}")
        result.problems += sorted(bad)


# --------------------------------------------------------------------------- main


def build_site(dest: Path) -> None:
    print(f"site_check: mkdocs build --strict --site-dir {dest}", flush=True)
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(dest)]
    subprocess.run(cmd, cwd=REPO, env=env, check=True)


def site_pages(site: Path) -> list[str]:
    pages = (p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    return sorted(p for p in pages if not p.startswith("javascripts/"))


def print_table(results: list[PageResult]) -> None:
    header = ("page", "s", "math", "img", "audio", "local", "ext", "result")
    rows = [
        (
            r.page.removesuffix("index.html") or "/",
            f"{r.seconds:.1f}",
            str(r.math),
            str(r.images),
            r.audio,
            str(r.local),
            str(r.external),
            "ok" if not r.problems else f"FAIL ({len(r.problems)})",
        )
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    line = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, help="a built site (default: build one into a temporary folder)")
    parser.add_argument("--chromium", help="the Chromium executable (default: chromium on PATH)")
    parser.add_argument("--jobs", type=int, default=2, help="pages open at once (default 2)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds a page may take (default 60)")
    parser.add_argument("--width", type=int, default=1280, help="window width in px (390: a phone)")
    parser.add_argument("--height", type=int, default=900, help="window height in px")
    parser.add_argument("--page", action="append", help="check only this page (path in the site; repeatable)")
    parser.add_argument("--screenshot", metavar="PAGE", help="only save a screenshot of PAGE (path in the site)")
    parser.add_argument("--out", type=Path, default=Path("site_check.png"), help="the screenshot's file")
    args = parser.parse_args(argv)

    started = time.monotonic()
    chromium = find_chromium(args.chromium)
    with tempfile.TemporaryDirectory(prefix="site-check-") as tmp:
        site = args.site
        if site is None:
            site = Path(tmp) / "site"
            build_site(site)
        site = site.resolve()
        if not (site / "index.html").is_file():
            print(f"site_check: {site} is not a built site (no index.html)", file=sys.stderr)
            return 2
        server = serve(site)
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        browser = Browser(chromium, str(Path(tmp) / "profile"))
        try:
            try:
                tabs = [browser.open_tab() for _ in range(1 if args.screenshot else max(1, args.jobs))]
                for tab in tabs:
                    tab.resize(args.width, args.height)
            except Exception as error:  # noqa: BLE001
                print(f"site_check: Chromium ({chromium}) does not run: {error}", file=sys.stderr)
                print(browser.stderr_tail(), file=sys.stderr)
                return 2

            if args.screenshot:
                tabs[0].visit(base + args.screenshot, args.timeout)
                args.out.write_bytes(tabs[0].screenshot())
                print(f"site_check: {args.screenshot} at {args.width}x{args.height} px -> {args.out}")
                return 0

            pages = args.page or site_pages(site)
            print(f"site_check: {len(pages)} pages, {len(tabs)} at a time, in {chromium}", flush=True)
            free: queue.Queue = queue.Queue()
            for tab in tabs:
                free.put(tab)

            def check(page: str) -> PageResult:
                tab = free.get()
                try:
                    return check_page(site, page, tab.visit(base + page, args.timeout))
                except Exception as error:  # noqa: BLE001
                    return PageResult(page, problems=[f"could not check the page: {error}"])
                finally:
                    free.put(tab)

            with ThreadPoolExecutor(max_workers=len(tabs)) as pool:
                results = list(pool.map(check, pages))
        finally:
            browser.close()
            server.shutdown()
            server.server_close()

        if not args.page:
            check_links(site, {r.page: r for r in results})
    print()
    print_table(results)
    failed = [r for r in results if r.problems]
    for r in failed:
        print(f"\n{r.page}:")
        for problem in r.problems:
            print(f"  - {problem}")
    print(f"\nsite_check: {len(results)} pages in {time.monotonic() - started:.0f} s")
    print(f"site_check: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
