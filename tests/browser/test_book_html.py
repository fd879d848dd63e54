"""The built book, checked in a real browser (headless Chromium through playwright).

Serves ``_build/html`` on 127.0.0.1, loads every HTML page of it, and checks what a reader
would see: no console errors or uncaught exceptions, no failed request, no broken internal
link (the target file exists and so does its ``#fragment``), no image that fails to load,
MathJax typesetting every page that has math (without TeX errors). Writes screenshots of a
few pages to ``_build/screenshots/`` for review. Also checks, from the HTML alone (no browser
needed), that every chapter's Colab and ``.ipynb`` download buttons give the exported notebook,
and that no visible code cell shows glue code (``glue(``, ``glue_numbers``, ``myst_nb``) or reads
files relative to the page (``Path("..")``).

Runs after the book build (``.ci/run``'s last phase, or by hand)::

    jupyter-book build --all -W --keep-going .
    pytest tests/browser -v

Skipped when there is no built book (plain ``pytest`` runs before the build), when the
``playwright`` package is missing (``pip install -e ".[browser]"``) or when there is no
Chromium (Debian: ``apt-get install chromium``). With PATHKERNEL_BROWSER_REQUIRED=1 (CI)
those three are failures instead. The browser is the system's Chromium; never run
``playwright install``. Environment: PATHKERNEL_BOOK_HTML (default <repo>/_build/html),
CHROMIUM (default /usr/bin/chromium).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("PATHKERNEL_BOOK_HTML", ROOT / "_build" / "html"))
SCREENSHOTS = SITE.parent / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
REQUIRED = os.environ.get("PATHKERNEL_BROWSER_REQUIRED", "") not in ("", "0")

# Flags that work as root and offline (shared/TOOLCHAIN.md); playwright adds a fresh profile.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# The only hosts a page may try to reach (requests to them are blocked and not errors).
# Everything the book needs to render is served locally; these are links and buttons that
# load on demand, or MathJax's CDN when book/install_mathjax.sh was not run (the MathJax
# check below then fails anyway, with a clear message).
ALLOWED_EXTERNAL_HOSTS = {
    "mybinder.org",                    # launch button
    "colab.research.google.com",       # launch button
    "github.com",                      # repository, issue and edit buttons
    "cdn.jsdelivr.net",                # MathJax CDN fallback (see MATHJAX check)
}

SCREENSHOT_PAGES = {  # file name -> page
    "intro": "book/intro.html",
    "chapter-discrete-exact": "notebooks/discrete_exact.html",
    "figures": "book/figures.html",
    "api": "book/api.html",
}

REDIRECT = re.compile(r'<meta http-equiv="Refresh" content="0; url=([^"]+)"', re.I)

PAGE_JS = """async () => {
  for (const img of document.images) img.loading = "eager";
  await Promise.all(Array.from(document.images, img => img.decode().catch(() => null)));
  const hasMath = document.querySelector(".math, span.math, div.math") !== null;
  let mathjax = "none";
  if (hasMath) {
    if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) {
      await Promise.race([window.MathJax.startup.promise,
                          new Promise(resolve => setTimeout(resolve, 20000))]);
      if (window.MathJax.typesetPromise) await window.MathJax.typesetPromise();
      mathjax = "loaded";
    } else {
      mathjax = "missing";
    }
  }
  return {
    ids: Array.from(document.querySelectorAll("[id]"), e => e.id)
         .concat(Array.from(document.querySelectorAll("a[name]"), e => e.name)),
    links: Array.from(document.querySelectorAll("a[href]"), a => a.getAttribute("href")),
    brokenImages: Array.from(document.images).filter(img => img.naturalWidth === 0)
                  .map(img => img.getAttribute("src")),
    images: document.images.length,
    hasMath: hasMath,
    mathjax: mathjax,
    mjx: document.querySelectorAll("mjx-container").length,
    mjxErrors: Array.from(document.querySelectorAll("mjx-merror, [data-mjx-error]"),
                          e => e.getAttribute("data-mjx-error") || e.textContent).slice(0, 5),
    title: document.title,
  };
}"""


@dataclass
class Page:
    path: str
    title: str = ""
    ids: set[str] = field(default_factory=set)
    links: list[str] = field(default_factory=list)
    images: int = 0
    broken_images: list[str] = field(default_factory=list)
    has_math: bool = False
    mathjax: str = "none"
    mjx: int = 0
    mjx_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)


@dataclass
class Crawl:
    base: str
    pages: dict[str, Page]
    seconds: float
    screenshots: list[Path]


def _missing(reason: str):
    if REQUIRED:
        pytest.fail(reason + " (PATHKERNEL_BROWSER_REQUIRED is set)", pytrace=False)
    pytest.skip(reason)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


def _html_pages(site: Path) -> list[str]:
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if not p.relative_to(site).parts[0].startswith("_"))


def _is_external(url: str, base: str) -> bool:
    return url.startswith(("http://", "https://")) and not url.startswith(base)


def _load(context, base: str, path: str) -> Page:
    page = Page(path)
    tab = context.new_page()

    def on_console(message):
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        if _is_external(url, base) and urlsplit(url).hostname in ALLOWED_EXTERNAL_HOSTS:
            return  # the blocked request below, already accounted for
        if "net::ERR_FAILED" in message.text and not url.startswith(base):
            return  # a blocked external request: checked by host in external_requests
        page.console_errors.append(f"{message.text} ({url})" if url else message.text)

    def on_route(route):
        url = route.request.url
        if _is_external(url, base):
            page.external_requests.append(url)
            route.abort()
        else:
            route.continue_()

    def on_response(response):
        if response.url.startswith(base) and response.status >= 400:
            page.failed_requests.append(f"{response.status} {response.url}")

    def on_failed(request):
        if request.url.startswith(base):
            page.failed_requests.append(f"{request.failure} {request.url}")

    tab.on("console", on_console)
    tab.on("pageerror", lambda error: page.console_errors.append(f"uncaught: {error}"))
    tab.on("response", on_response)
    tab.on("requestfailed", on_failed)
    tab.route("**/*", on_route)
    redirect = REDIRECT.search((SITE / path).read_text(encoding="utf-8", errors="replace"))
    tab.goto(base + path, wait_until="load", timeout=60_000)
    if redirect:  # Jupyter Book's index.html: a meta refresh to the root page
        target = urljoin(base + path, redirect.group(1))
        tab.wait_for_url(target, timeout=10_000)
        page.title, page.links = f"redirect to {redirect.group(1)}", [redirect.group(1)]
        tab.close()
        return page
    info = tab.evaluate(PAGE_JS)
    tab.wait_for_timeout(200)  # late console messages
    page.title = info["title"]
    page.ids = set(info["ids"])
    page.links = info["links"]
    page.images = info["images"]
    page.broken_images = info["brokenImages"]
    page.has_math = info["hasMath"]
    page.mathjax = info["mathjax"]
    page.mjx = info["mjx"]
    page.mjx_errors = info["mjxErrors"]
    for name, target in SCREENSHOT_PAGES.items():
        if target == path:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
            tab.screenshot(path=str(SCREENSHOTS / f"{name}-top.png"))
    tab.close()
    return page


@pytest.fixture(scope="module")
def crawl() -> Crawl:
    if not (SITE / "index.html").is_file():
        pytest.skip(f"no built book at {SITE}: build it first with "
                    "`jupyter-book build --all -W --keep-going .` (.ci/run does, then runs this test)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing('the playwright package is not installed: pip install -e ".[browser]"')
    if not Path(CHROMIUM).is_file():
        _missing(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set CHROMIUM)")

    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    start = time.perf_counter()
    pages: dict[str, Page] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            for path in _html_pages(SITE):
                pages[path] = _load(context, base, path)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    seconds = time.perf_counter() - start
    links = sum(len(p.links) for p in pages.values())
    print(f"\nbrowser check: {len(pages)} pages, {links} links, "
          f"{sum(p.images for p in pages.values())} images, "
          f"{sum(p.mjx for p in pages.values())} formulas in {seconds:.1f} s")
    return Crawl(base, pages, seconds, sorted(SCREENSHOTS.glob("*.png")))


def _report(problems: dict[str, list[str]]) -> str:
    return "\n".join(f"{page}: {item}" for page, items in problems.items() for item in items)


def test_every_page_loads(crawl):
    assert "book/intro.html" in crawl.pages and "book/figures.html" in crawl.pages
    untitled = [path for path, page in crawl.pages.items() if not page.title]
    assert not untitled, f"pages without a title: {untitled}"


def test_no_console_errors(crawl):
    problems = {path: page.console_errors for path, page in crawl.pages.items() if page.console_errors}
    assert not problems, "console errors:\n" + _report(problems)


def test_no_failed_requests(crawl):
    problems = {path: page.failed_requests for path, page in crawl.pages.items() if page.failed_requests}
    assert not problems, "failed requests to the local server:\n" + _report(problems)


def test_external_requests_only_to_allowed_hosts(crawl):
    problems = {path: [url for url in page.external_requests
                       if urlsplit(url).hostname not in ALLOWED_EXTERNAL_HOSTS]
                for path, page in crawl.pages.items()}
    problems = {path: urls for path, urls in problems.items() if urls}
    assert not problems, ("pages load resources from the network (the book must render offline):\n"
                          + _report(problems))


def test_internal_links_resolve(crawl):
    problems: dict[str, list[str]] = {}
    checked = 0
    for path, page in crawl.pages.items():
        for href in page.links:
            url = urljoin(crawl.base + path, href)
            if not url.startswith(crawl.base):
                continue  # external (not fetched offline) or mailto:/javascript:
            target, fragment = urldefrag(url)
            relative = unquote(urlsplit(target).path[1:])
            if relative == "" or relative.endswith("/"):
                relative += "index.html"
            checked += 1
            if not (SITE / relative).is_file():
                problems.setdefault(path, []).append(f"{href} -> missing file {relative}")
            elif fragment and relative in crawl.pages and unquote(fragment) not in crawl.pages[relative].ids:
                problems.setdefault(path, []).append(f"{href} -> no id {fragment!r} in {relative}")
    assert checked > 0
    assert not problems, "broken internal links:\n" + _report(problems)


def test_images_load(crawl):
    problems = {path: [f"image not loaded: {src}" for src in page.broken_images]
                for path, page in crawl.pages.items() if page.broken_images}
    assert not problems, _report(problems)
    assert crawl.pages["book/figures.html"].images > 0, "the figure gallery shows no thumbnail"


def test_mathjax_renders_every_page_with_math(crawl):
    with_math = {path: page for path, page in crawl.pages.items() if page.has_math}
    assert "book/notation.html" in with_math
    problems = {path: [f"MathJax {page.mathjax}, {page.mjx} rendered formulas"]
                for path, page in with_math.items() if page.mathjax != "loaded" or page.mjx == 0}
    problems.update({path: [f"TeX error: {error}" for error in page.mjx_errors]
                     for path, page in with_math.items() if page.mjx_errors})
    assert not problems, "math not rendered:\n" + _report(problems)


def test_screenshots_written(crawl):
    names = {path.stem for path in crawl.screenshots}
    expected = {name for name, page in SCREENSHOT_PAGES.items() if page in crawl.pages}
    assert expected and expected <= names, f"screenshots missing: {expected - names}"


COLAB_HREF = re.compile(r'href="(https://colab\.research\.google\.com/[^"]*)"')


def test_colab_buttons_open_the_exported_notebooks():
    """Every chapter's Colab button opens <chapter>.ipynb on the notebooks branch (published by
    .github/workflows/book.yml), no page sends Colab a MyST file, and the chapter's .ipynb
    download is the exported notebook (book/_ext/notebook_export.py). Reads the HTML; no browser."""
    if not (SITE / "index.html").is_file():
        pytest.skip(f"no built book at {SITE}: build it first with `jupyter-book build --all -W --keep-going .`")
    import yaml  # with the book's extra

    repository = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"]
    org, repo = urlsplit(repository).path.strip("/").split("/")[:2]
    chapters = sorted(path.stem for path in (ROOT / "notebooks").glob("*.md"))
    assert chapters
    problems: dict[str, list[str]] = {}
    for chapter in chapters:
        path = f"notebooks/{chapter}.html"
        html = (SITE / path).read_text(encoding="utf-8")
        expected = f"https://colab.research.google.com/github/{org}/{repo}/blob/notebooks/{chapter}.ipynb"
        if COLAB_HREF.findall(html) != [expected]:
            problems.setdefault(path, []).append(f"Colab links {COLAB_HREF.findall(html)}, expected {expected}")
        download = SITE / "_sources" / "notebooks" / f"{chapter}.ipynb"
        if f'href="../_sources/notebooks/{chapter}.ipynb"' not in html or not download.is_file():
            problems.setdefault(path, []).append(f"no .ipynb download at {download.relative_to(SITE)}")
            continue
        first = json.loads(download.read_text(encoding="utf-8"))["cells"][0]
        if "colab-install" not in first["metadata"].get("tags", []):
            problems.setdefault(path, []).append("the .ipynb download is not the exported notebook")
    for path in _html_pages(SITE):
        for href in COLAB_HREF.findall((SITE / path).read_text(encoding="utf-8", errors="replace")):
            if not href.endswith(".ipynb"):
                problems.setdefault(path, []).append(f"Colab link to a file Colab cannot open: {href}")
    assert not problems, _report(problems)


# What a reader must not see in a chapter's visible code: the book's plumbing.
GLUE_CODE = re.compile(r"\bglue\(|glue_numbers|myst_nb|Path\(\s*[\"']\.\.")
PRE_BLOCK = re.compile(r"<pre[^>]*>(.*?)</pre>", re.S)
TAG = re.compile(r"<[^>]+>")


def visible_code(html: str) -> list[str]:
    """The text of every ``<pre>`` block of a page (code cells' inputs and outputs), tags removed
    and HTML entities decoded."""
    from html import unescape

    return [unescape(TAG.sub("", block)) for block in PRE_BLOCK.findall(html)]


def test_visible_code_has_no_glue_code():
    """The glue that fills the prose runs in cells removed from the HTML (remove-cell): no page
    shows a ``glue(`` call, ``glue_numbers``, ``myst_nb`` or a ``Path("..")`` read. Reads the
    HTML; no browser."""
    if not (SITE / "index.html").is_file():
        pytest.skip(f"no built book at {SITE}: build it first with `jupyter-book build --all -W --keep-going .`")
    chapters = [f"notebooks/{path.stem}.html" for path in sorted((ROOT / "notebooks").glob("*.md"))]
    assert chapters and all((SITE / page).is_file() for page in chapters)
    problems: dict[str, list[str]] = {}
    for page in _html_pages(SITE):
        for block in visible_code((SITE / page).read_text(encoding="utf-8", errors="replace")):
            for line in block.splitlines():
                if GLUE_CODE.search(line):
                    problems.setdefault(page, []).append(f"visible: {line.strip()[:100]}")
    assert not problems, _report(problems)


def test_every_figure_is_shown_at_both_scales():
    """Each chapter page holds every figure of its chapter twice, in one tab-set: the figure computed
    in the build (its ID) and the stored run's (``stored-<ID>``), each an image, the stored one's
    caption linking its provenance record or naming the command that computes it. Reads the HTML."""
    if not (SITE / "index.html").is_file():
        pytest.skip(f"no built book at {SITE}: build it first with `jupyter-book build --all -W --keep-going .`")
    from pathkernel.figures import FIGURES

    problems: dict[str, list[str]] = {}
    for spec in FIGURES.values():
        page = f"notebooks/{spec.chapter}.html"
        html = (SITE / page).read_text(encoding="utf-8", errors="replace")
        tab_sets = [block for block in html.split('<div class="sd-tab-set')[1:] if f'id="{spec.id}"' in block]
        if not tab_sets or f'id="stored-{spec.id}"' not in tab_sets[0]:
            problems.setdefault(page, []).append(f"{spec.id} and stored-{spec.id} are not in one tab-set")
        for label in (spec.id, f"stored-{spec.id}"):
            figure = re.search(rf'<figure[^>]*id="{label}".*?</figure>', html, re.S)
            if figure is None or "<img" not in figure.group(0):
                problems.setdefault(page, []).append(f"{label}: no figure with an image")
            elif label.startswith("stored-") and "provenance record" not in (text := " ".join(
                    TAG.sub(" ", figure.group(0)).split())) and "python -m pathkernel run" not in text:
                problems.setdefault(page, []).append(f"{label}: caption names neither provenance nor command")
    assert not problems, _report(problems)

if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-v", "-s", "-p", "no:cacheprovider"]))
