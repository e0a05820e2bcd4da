"""The answer renderer (static/markdown.js) and the SSE reader (static/sse.js), run in a real Chromium.

The renderer builds DOM nodes only: whatever HTML an answer carries must come out as text.
"""

import pytest

from tests.ui_fixtures import *  # noqa: F403

pytestmark = pytest.mark.browser

RENDER = """async ([text, cited]) => {
    const { renderMarkdown } = await import("/static/markdown.js");
    const cite = (n) => {
        if (!cited.includes(n)) return null;
        const a = document.createElement("a");
        a.className = "cite";
        a.textContent = `[${n}]`;
        return a;
    };
    const box = document.createElement("div");
    box.append(renderMarkdown(text, { cite }));
    return box.innerHTML;
}"""


@pytest.fixture
def render(new_page):
    page = new_page()
    page.goto("/accounts/login/")  # any page of the app: the modules load from its origin

    def run(text: str, cited: tuple[int, ...] = ()) -> str:
        return page.evaluate(RENDER, [text, list(cited)])

    run.page = page
    return run


def test_html_in_an_answer_is_shown_as_text(render):
    html = render('Hi <img src=x onerror="window.pwned=1"> and <script>window.pwned=2</script> **<b>x</b>**')
    assert html == ("<p>Hi &lt;img src=x onerror=\"window.pwned=1\"&gt; and &lt;script&gt;window.pwned=2"
                    "&lt;/script&gt; <strong>&lt;b&gt;x&lt;/b&gt;</strong></p>")
    assert render.page.evaluate("window.pwned") is None


def test_only_http_links_become_links_and_images_are_never_loaded(render):
    assert render("[bad](javascript:alert(1)) [data](data:text/html,hi)") == (
        "<p>[bad](javascript:alert(1)) [data](data:text/html,hi)</p>")
    assert render("See [the docs](https://example.com/a?b=1&c=2).") == (
        '<p>See <a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer nofollow">'
        "the docs</a>.</p>")
    assert render("![tracker](https://example.com/pixel.png)") == "<p>![tracker](https://example.com/pixel.png)</p>"
    assert render("Go to http://example.com/x, then stop.") == (
        '<p>Go to <a href="http://example.com/x" target="_blank" rel="noopener noreferrer nofollow">'
        "http://example.com/x</a>, then stop.</p>")


def test_inline_styles(render):
    assert render("**bold**, *it*, _it_, `a <b> c`, ``x`y``, snake_case_name") == (
        "<p><strong>bold</strong>, <em>it</em>, <em>it</em>, <code>a &lt;b&gt; c</code>, <code>x`y</code>, "
        "snake_case_name</p>")


def test_blocks(render):
    text = "# Title\n\nOne\ntwo\n\n- a\n- b\n  more\n\n3. three\n4. four\n\n> quoted\n\n---"
    assert render(text) == (
        "<h3>Title</h3><p>One<br>two</p><ul><li>a</li><li>b<br>more</li></ul>"
        '<ol start="3"><li>three</li><li>four</li></ol><blockquote><p>quoted</p></blockquote><hr>')


def test_nested_list(render):
    assert render("- a\n  - a1\n  - a2\n- b") == "<ul><li>a<ul><li>a1</li><li>a2</li></ul></li><li>b</li></ul>"


def test_code_block_keeps_html_as_text_and_an_unclosed_fence_runs_to_the_end(render):
    assert render("```html\n<script>x()</script>\n```\nafter") == (
        '<pre><code data-lang="html">&lt;script&gt;x()&lt;/script&gt;</code></pre><p>after</p>')
    assert render("```\nstill streaming") == "<pre><code>still streaming</code></pre>"


def test_citation_markers_link_only_to_known_sources(render):
    assert render("Leave is 25 days [1], see also [7].", cited=(1,)) == (
        '<p>Leave is 25 days <a class="cite">[1]</a>, see also [7].</p>')


def test_sse_reader_reassembles_events_split_across_chunks(render):
    events = render.page.evaluate("""async () => {
        const { readEvents } = await import("/static/sse.js");
        const chunks = ['event: tok', 'en\\ndata: {"delta": "Hel"}\\n', '\\nevent: token\\r\\ndata: {"delta"',
                        ': "lo"}\\r\\n\\r\\n: keep-alive\\n\\n', 'event: done\\ndata: {"ok": true}\\n\\n'];
        const body = new ReadableStream({ start(controller) {
            for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
            controller.close();
        } });
        const out = [];
        for await (const event of readEvents(body)) out.push(event);
        return out;
    }""")
    assert events == [{"event": "token", "data": {"delta": "Hel"}}, {"event": "token", "data": {"delta": "lo"}},
                      {"event": "done", "data": {"ok": True}}]
