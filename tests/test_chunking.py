"""Chunking is pure: text in, chunks out, no database."""

import pytest

from knowledge.chunking import chunk_text, count_tokens


def sentences(n: int, words: int = 9, prefix: str = "S") -> str:
    return " ".join(f"{prefix}{i} " + " ".join(["word"] * (words - 1)) + "." for i in range(n))


def test_token_estimate_counts_words_in_six_char_pieces_and_punctuation():
    assert count_tokens("") == 0
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("Knowledge-base") == 4  # "Knowle", "dge", "-", "base"
    assert count_tokens("internationalisation") == 4
    assert count_tokens("a" * 6000) == 1000  # a blob without spaces is not one token


def test_short_text_is_one_chunk_with_exact_offsets():
    text = "  One sentence. Another one.  "
    [chunk] = chunk_text(text, size=100, overlap=10)
    assert chunk.text == "One sentence. Another one."
    assert text[chunk.start_char:chunk.end_char] == chunk.text
    assert chunk.position == 0 and chunk.page is None
    assert chunk.token_count == count_tokens(chunk.text)


def test_empty_text_has_no_chunks():
    assert chunk_text("  \n\n ", size=100, overlap=10) == []


def test_chunks_respect_size_and_end_on_sentence_boundaries():
    text = sentences(200)
    chunks = chunk_text(text, size=50, overlap=10)
    assert len(chunks) > 10
    for chunk in chunks:
        assert chunk.token_count <= 50
        assert chunk.text.endswith(".")
        assert text[chunk.start_char:chunk.end_char] == chunk.text
    assert [c.position for c in chunks] == list(range(len(chunks)))


def test_consecutive_chunks_overlap_by_about_the_overlap():
    chunks = chunk_text(sentences(100), size=50, overlap=20)
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert nxt.start_char < prev.end_char  # they share text
        assert nxt.start_char > prev.start_char  # and always move forward
        shared = count_tokens(prev.text[nxt.start_char - prev.start_char:])
        assert 10 <= shared <= 20


def test_zero_overlap_chunks_tile_the_text():
    chunks = chunk_text(sentences(60), size=40, overlap=0)
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert nxt.start_char > prev.end_char - 1


def test_every_sentence_is_in_some_chunk():
    text = sentences(80)
    covered = " ".join(c.text for c in chunk_text(text, size=45, overlap=5))
    for i in range(80):
        assert f"S{i} word" in covered


def test_paragraph_boundary_preferred_over_sentence_boundary():
    first = sentences(7, prefix="A")  # 70 tokens
    second = sentences(7, prefix="B")
    chunks = chunk_text(f"{first}\n\n{second}", size=100, overlap=0)
    assert chunks[0].text == first
    assert chunks[1].text == second


def test_a_sentence_longer_than_the_size_is_cut_by_tokens():
    text = " ".join(["word"] * 250)
    chunks = chunk_text(text, size=100, overlap=0)
    assert [c.token_count for c in chunks] == [100, 100, 50]
    assert " ".join(c.text for c in chunks) == text


def test_pages_come_from_page_starts():
    pages = ["Page one talks. " * 20, "Page two talks. " * 20, "Page three talks. " * 20]
    text = "\n\n".join(p.strip() for p in pages)
    starts = [0]
    for p in pages[:-1]:
        starts.append(starts[-1] + len(p.strip()) + 2)
    chunks = chunk_text(text, size=30, overlap=0, page_starts=starts)
    for chunk in chunks:
        expected = 1 + sum(1 for s in starts[1:] if s <= chunk.start_char)
        assert chunk.page == expected
    assert {c.page for c in chunks} == {1, 2, 3}


def test_lines_are_boundaries_for_lists_and_tables():
    text = "\n".join(f"row {i},value {i}" for i in range(100))
    for chunk in chunk_text(text, size=40, overlap=0):
        assert chunk.text.startswith("row ") and chunk.text.split(",")[-1].startswith("value")


def test_invalid_size_is_refused():
    with pytest.raises(ValueError):
        chunk_text("text", size=0, overlap=0)
