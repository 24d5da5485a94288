from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from drivers import lines as lines_module
from drivers.lines import MAX_LINE_BYTES, PROMPT, LineSplitter

AT_BYTES = st.lists(
    st.sampled_from(
        [
            b"\r",
            b"\n",
            b"\r\n",
            b"\r\r\n",
            b"> ",
            b">",
            b" ",
            b"OK",
            b'+CMTI: "SM",3',
            b"ERROR",
            b"\x00",
            b"\xff",
            b"\xc3",
            b"0791",
            b"A" * 50,
        ]
    ),
    max_size=60,
).map(b"".join)


def feed_all(splitter: LineSplitter, chunks: list[bytes]) -> list[object]:
    out: list[object] = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
    return out


def test_line_endings_and_blank_lines() -> None:
    splitter = LineSplitter()
    items = splitter.feed(b"\r\nOK\r\n\r\n+CSQ: 20,99\r\r\nbare\n\r\n")
    assert items == ["OK", "+CSQ: 20,99", "bare"]


def test_prompt_without_line_ending_and_then_lines() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"AT+CMGS=18\r\r\n> ") == ["AT+CMGS=18", PROMPT]
    assert splitter.feed(b"\r\n+CMGS: 7\r\n\r\nOK\r\n") == ["+CMGS: 7", "OK"]


def test_gt_without_space_is_a_prompt_only_when_expected() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"\r\n>") == []
    assert splitter.feed(b"x\r\n") == [">x"]
    splitter.expect_prompt = True
    assert splitter.feed(b"\r\n>") == [PROMPT]
    assert splitter.expect_prompt is False


def test_garbage_is_replaced_and_counted() -> None:
    splitter = LineSplitter()
    items = splitter.feed(b"\xff\xfeOK\x00\r\nA\xffB\r\n")
    assert items == ["OK", "A\ufffdB"]  # noise ahead of a line is dropped, inside replaced
    assert splitter.garbage_bytes == 4
    assert splitter.noise_bytes == 2


def test_overlong_line_dropped_counted_and_resynced() -> None:
    splitter = LineSplitter(max_line=16)
    assert splitter.feed(b"A" * 40) == []
    assert splitter.pending == 0
    assert splitter.feed(b"B" * 40 + b"\r\nOK\r\n") == ["OK"]
    assert splitter.overlong_lines == 1


def test_buffer_never_exceeds_cap() -> None:
    splitter = LineSplitter()
    for _ in range(50):
        splitter.feed(b"Z" * 1000)
        assert splitter.pending <= MAX_LINE_BYTES


@given(AT_BYTES, st.booleans())
def test_byte_by_byte_equals_all_at_once(data: bytes, expect_prompt: bool) -> None:
    whole = LineSplitter(max_line=64)
    whole.expect_prompt = expect_prompt
    single = LineSplitter(max_line=64)
    single.expect_prompt = expect_prompt
    assert feed_all(single, [data[i : i + 1] for i in range(len(data))]) == whole.feed(data)
    assert (single.garbage_bytes, single.overlong_lines) == (
        whole.garbage_bytes,
        whole.overlong_lines,
    )


@given(st.binary(max_size=3000), st.lists(st.integers(1, 500), max_size=20))
def test_random_bytes_never_raise(data: bytes, cuts: list[int]) -> None:
    splitter = LineSplitter()
    pos = 0
    for cut in cuts:
        for item in splitter.feed(data[pos : pos + cut]):
            assert item is PROMPT or (isinstance(item, str) and item == item.strip() and item)
        pos += cut
    splitter.feed(data[pos:])
    assert splitter.pending <= MAX_LINE_BYTES


def test_splitter_imports_nothing_from_asyncio() -> None:
    tree = ast.parse(Path(lines_module.__file__).read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    } | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name and "asyncio" in name for name in imported)
