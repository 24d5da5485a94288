"""Real modem replies (read from ../shared, never copied) through the splitter and engine.

Each recorded reply is fed to an engine as the answer to its command, with the exact
line endings the device used (CRLF, CR CR LF, bare LF), echo included. The engine must
end every command at its final result, drop the echo, return the information lines,
and route the unsolicited ones.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from drivers import replies
from drivers.engine import AtEngine
from drivers.errors import CmsError, CommandError
from drivers.urcs import Urc, final_result, is_hex_line, urc_prefix

TRANSCRIPTS = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "reference"
    / "vectors"
    / "modem-transcripts"
)
pytestmark = pytest.mark.skipif(
    not TRANSCRIPTS.is_dir(), reason="reference transcripts are not present"
)

FINALS = re.compile(r"(OK|ERROR|COMMAND NOT SUPPORT|\+CM[ES] ERROR:.*)")


def unmark(text: str) -> bytes:
    return text.replace("<CR>", "\r").replace("<LF>", "\n").encode("utf-8")


def gammu_dumps() -> list[tuple[str, bytes]]:
    path = TRANSCRIPTS / "gammu_at_replies.txt"
    if not path.is_file():
        return []
    dumps: list[tuple[str, bytes]] = []
    name: str | None = None
    body: list[str] = []
    for line in [*path.read_text("utf-8").splitlines(), "=== end"]:
        if line.startswith("=== "):
            if name is not None:
                while body and not body[-1]:
                    body.pop()
                dumps.append((name, unmark("".join(body))))
            name, body = line[4:].strip(), []
        elif name is not None:
            body.append(line)
    return dumps


def table_replies() -> list[tuple[str, str, bytes]]:
    out: list[tuple[str, str, bytes]] = []
    for path in sorted(TRANSCRIPTS.glob("python-gsmmodem_*.txt")):
        if path.name.endswith("sms_flows.txt"):
            continue
        command: str | None = None
        reply: list[str] = []
        for line in [*path.read_text("utf-8").splitlines(), ">> end"]:
            if line.startswith("## "):  # an unsolicited-sequence section: not a reply
                if command is not None:
                    out.append((path.stem, command, unmark("".join(reply))))
                command = None
            elif line.startswith(">> "):
                if command is not None:
                    out.append((path.stem, command, unmark("".join(reply))))
                command = line[3:].replace("<CR>", "").replace("<LF>", "").strip()
                reply = []
            elif line.startswith("<< ") and command is not None:
                reply.append(line[3:])
    return out


def flow_blocks() -> list[tuple[str, list[str]]]:
    path = TRANSCRIPTS / "python-gsmmodem_sms_flows.txt"
    if not path.is_file():
        return []
    blocks: list[tuple[str, list[str]]] = []
    for line in path.read_text("utf-8").splitlines():
        if line.startswith("--- "):
            blocks.append((line[4:], []))
        elif line.startswith("<< ") and blocks and not line.startswith("<< [pause"):
            blocks[-1][1].append(line[3:])
    return blocks


@dataclass
class Feeder:
    """Writer that answers each command by feeding recorded bytes back to the engine."""

    replies: list[bytes]
    engine: AtEngine | None = None
    urcs: list[Urc] = field(default_factory=list)

    def write(self, data: bytes) -> None:
        if self.replies and self.engine is not None:
            asyncio.get_running_loop().call_soon(self.engine.feed, self.replies.pop(0))

    def urc_received(self, urc: Urc) -> None:
        self.urcs.append(urc)

    def command_timed_out(self, consecutive: int) -> None:
        raise AssertionError("recorded replies must complete their command")


def engine_for(*answers: bytes) -> tuple[AtEngine, Feeder]:
    feeder = Feeder(list(answers))
    engine = AtEngine(feeder, feeder, extra_errors=(r"MODEM ERROR:.*",))
    feeder.engine = engine
    return engine, feeder


def split_lines(data: bytes) -> list[str]:
    return [s.strip() for s in data.decode("utf-8", "replace").split("\n") if s.strip()]


GAMMU = [(name, data) for name, data in gammu_dumps() if data.lstrip().startswith(b"AT")]


@pytest.mark.parametrize(("name", "data"), GAMMU, ids=[n for n, _ in GAMMU])
async def test_gammu_replies_complete_their_command(name: str, data: bytes) -> None:
    command = data.lstrip().split(b"\n")[0].split(b"\r")[0].decode().strip()
    engine, _ = engine_for(data)
    try:
        lines = await engine.command(command, seconds=1.0)
    except CommandError:
        assert any(FINALS.fullmatch(line) for line in split_lines(data))
        return
    assert command not in lines  # the echo is dropped
    assert not [line for line in lines if final_result("AT", line) is not False]
    folder = name.split("/")[1]
    if folder == "at-sms":
        pdu = replies.read_pdu(lines)
        assert pdu is not None
        assert is_hex_line(pdu[:20])
    elif folder == "at-cnmi":
        assert len(replies.ranges(replies.find_body(lines, "+CNMI:") or "")) == 5
    elif folder == "at-cpms" and replies.find_body(lines, "+CPMS:"):
        assert len(replies.memory_lists(replies.find_body(lines, "+CPMS:") or "")) == 3
    elif folder == "at-creg" and lines:
        assert replies.registration(replies.find_body(lines, "+CREG:") or "", query=True)


TABLES = table_replies()


@pytest.mark.parametrize(
    ("source", "command", "data"), TABLES, ids=[f"{s}:{c}" for s, c, _ in TABLES]
)
async def test_fake_modem_tables_complete_their_command(
    source: str, command: str, data: bytes
) -> None:
    lines_in = split_lines(data)
    has_final = any(FINALS.fullmatch(line) for line in lines_in)
    no_ok_cpin = command.upper().startswith("AT+CPIN") and not has_final
    if not has_final and not no_ok_cpin:
        pytest.skip("recorded without a final result")
    engine, _ = engine_for(data)
    try:
        lines = await engine.command(
            command, seconds=1.0, final_prefix="+CPIN:" if no_ok_cpin else None
        )
    except CommandError:
        assert any(FINALS.fullmatch(line) and line != "OK" for line in lines_in)
        return
    assert "OK" not in lines
    assert len(lines) == len([ln for ln in lines_in if not FINALS.fullmatch(ln)])


FLOWS = flow_blocks()


@pytest.mark.parametrize(("label", "lines"), FLOWS, ids=[label for label, _ in FLOWS])
async def test_sms_flows(label: str, lines: list[str]) -> None:
    data = [unmark(line) for line in lines]
    texts = split_lines(b"".join(data))
    if texts[0].startswith(">"):
        prompt_end = 1
        engine, _ = engine_for(b"".join(data[:prompt_end]), b"".join(data[prompt_end:]))
        if not any(FINALS.fullmatch(t) for t in texts):
            pytest.skip("recorded without a final result")
        mr = await engine.send_pdu(10, "00" * 11, prompt_seconds=1.0, result_seconds=1.0)
        assert mr == int(texts[1].split(":")[1])
        return
    if all(urc_prefix(t) is not None for t in texts):
        engine, feeder = engine_for()
        engine.feed(b"".join(data))
        assert [u.line for u in feeder.urcs] == texts
        return
    if not any(FINALS.fullmatch(t) for t in texts):
        pytest.skip("recorded without a final result")
    command = {"+CMGL": "AT+CMGL=4", "+CMGR": "AT+CMGR=1"}.get(texts[0][:5], "AT+CPMS=?")
    engine, _ = engine_for(b"".join(data))
    if texts[-1].startswith("+CMS ERROR:"):
        with pytest.raises(CmsError) as caught:
            await engine.command(command, seconds=1.0)
        assert caught.value.number == int(texts[-1].rsplit(":", 1)[1])
        return
    result = await engine.command(command, seconds=1.0)
    if command == "AT+CMGL=4":  # PDU mode: a text-mode entry (no hex line) is no PDU
        pdus = [
            t
            for t, after in zip(texts, [*texts[1:], ""], strict=True)
            if t.startswith("+CMGL:") and replies.pdu_line(after) is not None
        ]
        assert len(replies.listed(result)) == len(pdus)
    elif command == "AT+CMGR=1":
        assert replies.read_pdu(result) == replies.pdu_line(texts[1])
