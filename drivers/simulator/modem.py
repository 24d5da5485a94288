"""A simulated GSM/LTE modem serving the AT dialect on a real pseudo-terminal.

The modem owns the master side of a pty and is driven entirely by the event loop
(``loop.add_reader``/``add_writer``, no threads). Clients open the published
symlink exactly as they would open ``/dev/serial/by-id/...``. Tests steer the
simulated network (inbound messages, status reports, registration, signal) and
inject faults (hangs, lost answers, errors, garbage, unplugs) while it runs.

All durations are in seconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

from drivers.errors import PduError
from drivers.pdu import Submit
from drivers.simulator import codec
from drivers.simulator.commands import dispatch, error_final
from drivers.simulator.inbound import Arrival, Reception
from drivers.simulator.profiles import Profile, get_profile
from drivers.simulator.pty_link import PtyLink
from drivers.simulator.records import Records, SentMessage
from drivers.simulator.settings import AtSettings
from drivers.simulator.storage import REC_READ, Memory, StoredSms
from drivers.simulator.wire import Wire

LOGGER = logging.getLogger(__name__)

RESET_DRAIN_TIMEOUT: Final = 1.0  # let the client read "OK" to AT+CFUN=1,1 before the unplug
DRAIN_POLL: Final = 0.005
PROMPT: Final = b"\r\n> "
# Bytes a modem drops from a command line (stray ESC / NUL / XON ... from a confused client).
_CONTROL_BYTES: Final = bytes(b for b in range(32) if b not in (0x0D,)) + b"\x7f"
DUMMY_SENDER: Final = "+15550001234"
DUMMY_TEXT: Final = "Storage test message."
DEMO_TEXT: Final = "Hello from the simulated network."


@dataclass(slots=True)
class _CommandFault:
    prefix: str  # upper case
    final: str
    remaining: int


@dataclass(slots=True)
class _LateAnswer:
    prefix: str  # upper case
    delay: float
    remaining: int


NOISE_MAX_BYTES: Final = 4  # stray bytes per noisy line, at most


class SimulatedModem:
    """A modem on a pseudo-terminal; see the module docstring. Async context manager."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        profile: str = "generic",
        imei: str | None = None,
        imsi: str | None = None,
        iccid: str | None = None,
        operator: str = "SimNet",
        smsc: str = "+15550000000",
        pin: str | None = None,
        radio_time: float = 0.0,
        report_delay: float | None = 0.0,
        report_status: int = 0,
        storage_capacity: int = 30,
        boot_delay: float = 0.0,
        reset_time: float = 0.2,
        noise_interval: float = 2.0,
        ussd_reply: str = "Balance: 12.34 USD",
        own_number: str | None = None,
        ussd_delay: float = 0.05,
        seed: int | None = None,
        at_prompt: bool = False,
    ) -> None:
        if storage_capacity < 1:
            raise ValueError("storage_capacity must be >= 1")
        for name, value in (
            ("radio_time", radio_time),
            ("boot_delay", boot_delay),
            ("reset_time", reset_time),
            ("ussd_delay", ussd_delay),
        ):
            if value < 0:
                raise ValueError(f"{name} must be >= 0")
        if noise_interval <= 0:
            raise ValueError("noise_interval must be > 0")
        self.profile: Profile = get_profile(profile)
        self.link = PtyLink(path)
        self.path = self.link.path
        self._random = random.Random(seed)
        self.imei: str = imei or f"35{self._random.randrange(10**12, 10**13)}"
        self.imsi: str = imsi or f"00101{self._random.randrange(10**9, 10**10)}"
        self.iccid: str = iccid or f"8901{self._random.randrange(10**14, 10**15)}"
        self.operator = operator
        self.smsc = smsc
        self.pin = pin
        self.radio_time = radio_time
        self.report_delay = report_delay
        self.report_status = report_status
        self.boot_delay = boot_delay
        self.reset_time = reset_time
        self.noise_interval = noise_interval
        self.ussd_reply = ussd_reply
        self.own_number = own_number  # what AT+CNUM answers; most SIMs hold none
        self.ussd_status = 0
        self.ussd_delay = ussd_delay

        self.memories: dict[str, Memory] = {}
        for mem in self.profile.memories:
            if mem == "MT":
                continue
            self.memories[mem] = Memory(mem, storage_capacity, self.profile.index_base)
        if "MT" in self.profile.memories:
            self.memories["MT"] = self.memories.get("ME") or Memory(
                "MT", storage_capacity, self.profile.index_base
            )
        self.settings = AtSettings.for_profile(self.profile)

        # Network and SIM state (survives resets).
        self.registration = 1
        self.act = self.profile.default_act
        self.csq = 20
        self.cfun = 1
        self.pin_ok = pin is None

        # Records tests assert on.
        self._records = Records()
        self.sent: list[SentMessage] = self._records.sent
        self.commands: list[str] = self._records.commands

        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._ready = False  # booted and listening
        self._hung = False
        self._ready_event = asyncio.Event()
        self._swallow_next_pdu = False
        self._fail_cms: deque[int] = deque()
        self._report_overrides: dict[str, int] = {}
        self._mr = 0
        self._concat_ref = self._random.randrange(256)
        self._wire = Wire(self.link, self._on_line, self._on_pdu)
        self._cmgs_length = 0
        self._prompt = PROMPT
        self._eol = "\r\n"
        self._before_prompt: list[str] = []
        self._command_faults: list[_CommandFault] = []
        self._late_answers: list[_LateAnswer] = []
        self._busy_answers = 0  # commands still answered +CME ERROR: 515 (after AT+CFUN=1)
        self._noise_probability = 0.0  # probability of stray bytes ahead of each line written
        self._noise_random = random.Random(seed)
        self._prompt_at_boot = at_prompt  # the first boot finds a send's prompt still open
        self._reception = Reception(self)
        self._device_tasks: set[asyncio.Task[None]] = set()
        self._network_tasks: set[asyncio.Task[None]] = set()
        self._timers: dict[int, asyncio.Handle] = {}  # network-side timers, by sequence
        self._timer_seq = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Create the pty, publish the link and boot (after ``boot_delay``)."""
        if self._started:
            return
        self._loop = asyncio.get_running_loop()
        self._started = True
        self._power_on()

    async def stop(self) -> None:
        """Remove the link, close the pty and cancel everything the modem scheduled."""
        if not self._started:
            return
        self._started = False
        self._power_off()
        tasks = [*self._device_tasks, *self._network_tasks]
        for task in tasks:
            task.cancel()
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._device_tasks.clear()
        self._network_tasks.clear()
        self._records.cancel_waiters()

    async def __aenter__(self) -> SimulatedModem:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def ready(self) -> bool:
        """Booted, listening, and the pty is present."""
        return self._ready

    async def wait_ready(
        self,
        timeout: float,  # noqa: ASYNC109 - tests read better with the deadline inline
    ) -> None:
        """Wait until booted (after start, a reappear or AT+CFUN=1,1); TimeoutError after."""
        async with asyncio.timeout(timeout):
            await self._ready_event.wait()

    def _power_on(self) -> None:
        self._wire.open(self._require_loop())
        self.pin_ok = self.pin is None  # a power cycle locks the SIM again
        self._spawn(self._boot(), device=True)

    def _power_off(self) -> None:
        """The device disappears: pty closed, link removed, volatile state lost."""
        self._ready = False
        self._ready_event.clear()
        for task in self._device_tasks:
            task.cancel()
        self._wire.close()
        self._hung = False
        self._sync_wire()
        self._swallow_next_pdu = False
        self._reception.forget_acks()

    async def _boot(self) -> None:
        if self.boot_delay:
            await asyncio.sleep(self.boot_delay)
        self.settings = AtSettings.for_profile(self.profile)
        self.cfun = 1
        self._ready = True
        self._ready_event.set()
        self._sync_wire()
        LOGGER.debug("simulated modem %s booted (%s)", self.path, self.profile.name)
        if self._prompt_at_boot:
            self._prompt_at_boot = False
            self.leave_at_prompt()  # powered all along: no banner, still waiting for text
            return
        for urc in self.profile.boot_urcs:
            if urc == "+CPIN: READY" and not self.pin_ok:
                self.urc("+CPIN: SIM PIN")
                break
            self.urc(urc)
        self._reception.flush()
        if self.profile.noise_urcs:
            self._spawn(self._noise(), device=True)

    async def _noise(self) -> None:
        """Huawei sticks repeat ^RSSI/^MODE/^BOOT until AT^CURC=0."""
        n = 0
        while True:
            await asyncio.sleep(self.noise_interval)
            if self.settings.curc and not self._wire.paused:
                line = self.profile.noise_urcs[n % len(self.profile.noise_urcs)]
                self.urc(line.format(csq=self.csq))
                n += 1

    # ------------------------------------------------------------------ faults

    def set_next_reference(self, mr: int) -> None:
        """The TP-MR the next accepted segment gets (0..255)."""
        if not 0 <= mr <= 255:
            raise ValueError("mr must be 0..255")
        self._mr = mr

    def hang(self) -> None:
        """Stop answering anything (input is read and dropped, nothing is written)."""
        self._hung = True
        self._sync_wire()

    def resume(self) -> None:
        self._hung = False
        self._sync_wire()

    def _sync_wire(self) -> None:
        self._wire.deaf = self._hung or not self._ready
        self._wire.mute = self._hung

    def hang_after_prompt(self) -> None:
        """The next AT+CMGS gets its prompt, but the answer to its PDU is never written.

        The segment still reaches the network (it is recorded in ``sent`` with
        ``answered=False``): the lost-answer case a driver must report as unknown.
        Later commands are answered normally.
        """
        self._swallow_next_pdu = True

    def leave_at_prompt(self) -> None:
        """As if a client wrote ``AT+CMGS=<n>`` and died: the ``> `` entry stays open.

        Every byte is taken as PDU text until ESC (answered ``OK``, nothing sent) or
        Ctrl-Z (the text is submitted: junk answers ``+CMS ERROR: 304``).
        """
        self._cmgs_length = 0
        self._wire.pdu_mode = True

    @property
    def at_prompt(self) -> bool:
        """Waiting for PDU text after a prompt."""
        return self._wire.pdu_mode

    def set_noise(self, probability: float, *, seed: int | None = None) -> None:
        """Stray bytes 0x80-0xFF ahead of each line written, with ``probability`` (0 off).

        Half of the noisy lines get the bytes in front of their text, half get a line of
        noise of their own (a bad cable or a UART at the wrong speed does both).
        ``seed`` makes the pattern repeatable.
        """
        if not 0.0 <= probability <= 1.0:
            raise ValueError("noise probability must be within 0..1")
        self._noise_probability = probability
        if seed is not None:
            self._noise_random = random.Random(seed)

    def split_output(self, size: int | None) -> None:
        """Write output in pieces of at most ``size`` bytes, one per loop turn (None: whole)."""
        if size is not None and size < 1:
            raise ValueError("size must be >= 1")
        self._wire.chunk = size

    def answer_late(self, prefix: str, delay: float, count: int = 1) -> None:
        """Answer the next ``count`` commands starting with ``prefix`` only after ``delay``.

        The AT channel stays busy meanwhile, as on a modem (later commands are answered
        after it, in order): a driver whose deadline is shorter sees the answer arrive late.
        """
        if delay < 0:
            raise ValueError("delay must be >= 0")
        self._late_answers.append(_LateAnswer(prefix.upper(), delay, count))

    def lose_registration(self, *, searching: bool = False) -> None:
        """Registration lost: not registered (0), or searching (2) for another cell."""
        self.set_registration(2 if searching else 0)

    def deny_registration(self) -> None:
        """The network refuses the SIM (3): sends fail with +CMS ERROR: 331."""
        self.set_registration(3)

    def restore_registration(self, *, roaming: bool = False) -> None:
        """Registered again, at home (1) or roaming (5)."""
        self.set_registration(5 if roaming else 1)

    def fail_command(self, prefix: str, final: str, count: int = 1) -> None:
        """Answer the next ``count`` commands starting with ``prefix`` with ``final`` as-is.

        For the SIM-busy bursts after boot or PIN entry (``"+CME ERROR: 14"``,
        ``"+CME ERROR: 515"``) and ``+CMS ERROR: 330`` while the SMSC is unknown.
        """
        self._command_faults.append(_CommandFault(prefix.upper(), final, count))

    def set_prompt(self, prompt: bytes = PROMPT) -> None:
        """The bytes AT+CMGS answers with: ``b"\\r\\n>"`` (no space), ``b""`` (missing)."""
        self._prompt = prompt

    def set_line_ending(self, eol: str = "\r\n") -> None:
        """How lines end: ``"\\r\\r\\n"`` as some Huawei/ZTE firmware, ``"\\n"``..."""
        self._eol = eol

    def before_prompt(self, line: str) -> None:
        """Emit URC ``line`` right after the next AT+CMGS command, before its prompt."""
        self._before_prompt.append(line)

    def fail_sends(self, cms: int, count: int = 1) -> None:
        """Answer the next ``count`` AT+CMGS PDUs with ``+CMS ERROR: cms``."""
        self._fail_cms.extend([cms] * count)

    def set_ack_timeout(self, seconds: float | None, *, redelivery: float | None = None) -> None:
        """With AT+CSMS=1, a routed +CMT/+CDS not acked in time silently zeroes CNMI mt/ds,
        and the network hands it over again after ``redelivery`` seconds (default: 30)."""
        self._reception.ack_timeout = seconds
        if redelivery is not None:
            self._reception.redelivery_delay = redelivery

    @property
    def awaiting_acks(self) -> int:
        """Routed messages handed to the client and not acknowledged yet (AT+CNMA)."""
        return self._reception.awaiting_acks

    @property
    def redelivered(self) -> int:
        """Routed messages the network handed over again for want of an AT+CNMA."""
        return self._reception.redelivered

    def set_registration(self, stat: int, *, act: int | None = None) -> None:
        """Network registration (+CREG <stat>: 0 none, 1 home, 2 searching, 3 denied, 5 roaming).

        Sends +CREG/+CGREG/+CEREG URCs where the client enabled them; sending needs 1 or 5.
        """
        self.registration = stat
        if act is not None:
            self.act = act
        if not self._ready:
            return
        for name, n in (
            ("+CREG", self.settings.creg_n),
            ("+CGREG", self.settings.cgreg_n),
            ("+CEREG", self.settings.cereg_n),
        ):
            if n:
                self.urc(f"{name}: {self.registration_fields(name, n, urc=True)}")

    def set_signal(self, csq: int) -> None:
        """AT+CSQ rssi (0..31, 99 unknown); Huawei also reports it as ^RSSI."""
        self.csq = csq
        if self._ready and self.profile.noise_urcs and self.settings.curc:
            self.urc(f"^RSSI:{csq}")

    def set_report_status(self, number: str, status: int) -> None:
        """Status reports for segments sent to ``number`` carry TP-ST ``status``."""
        self._report_overrides[number] = status

    def set_ussd_reply(self, text: str, status: int = 0) -> None:
        self.ussd_reply = text
        self.ussd_status = status

    def emit(self, data: bytes) -> None:
        """Write raw bytes as-is (garbage, non-UTF-8, overlong lines)."""
        self._wire.write(data, force=True)

    async def vanish(self) -> None:
        """Unplug: the pty and the link disappear; the client reads EIO/EOF."""
        self._power_off()

    async def reappear(self) -> None:
        """Replug: a new pty under the same path, then boot again."""
        if not self._started or self.link.is_open:
            return
        self._power_on()

    async def vanish_for(self, seconds: float) -> None:
        await self.vanish()
        await asyncio.sleep(seconds)
        await self.reappear()

    def later(self, delay: float, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback`` after ``delay`` unless the device goes away first."""
        self._spawn(_after(delay, callback, args), device=True)

    def reset(self) -> None:
        """What AT+CFUN=1,1 does: re-enumerate after ``reset_time``."""
        self._spawn(self._reset(), device=False)

    async def _reset(self) -> None:
        deadline = time.monotonic() + RESET_DRAIN_TIMEOUT
        while self._wire.draining:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(DRAIN_POLL)
        await self.vanish()
        await asyncio.sleep(self.reset_time)
        await self.reappear()

    # ------------------------------------------------------------------ network side

    def deliver(
        self,
        sender: str,
        text: str,
        *,
        national: str | None = None,
        direct: bool = False,
        shuffle: bool = False,
        concat_reference: int | None = None,
    ) -> None:
        """A text arrives from the network (split into parts as needed).

        ``direct``: route it as ``+CMT`` whatever CNMI says (class-0 style); ``shuffle``:
        the parts arrive out of order; ``concat_reference`` above 255 gives 16-bit
        concatenation headers (the default counter gives 8-bit ones).
        """
        parts = self._encode_deliver(sender, text, national, concat_reference)
        if shuffle and len(parts) > 1:
            original = list(parts)
            self._random.shuffle(parts)
            if parts == original:
                parts.reverse()
        LOGGER.debug("inbound message: %d part(s)", len(parts))
        for pdu in parts:
            self._reception.arrive(Arrival("deliver", pdu, direct))

    def deliver_pdu(self, pdu_hex: str, *, direct: bool = False) -> None:
        """A raw SMS-DELIVER (hex with SMSC part) arrives from the network."""
        self._reception.arrive(Arrival("deliver", pdu_hex.upper(), direct))

    def preload(self, sender: str, text: str, *, national: str | None = None) -> list[int]:
        """Store a message silently (it arrived while nobody was listening); its indices."""
        memory = self.memories[self.settings.mem3]
        indices = []
        for pdu in self._encode_deliver(sender, text, national):
            index = memory.store(StoredSms(pdu, codec.tpdu_length(pdu)))
            if index is None:
                self._reception.hold(Arrival("deliver", pdu))
            else:
                indices.append(index)
        return indices

    def fill_storage(self) -> int:
        """Fill the receive memory with valid dummy messages; how many were stored."""
        memory = self.memories[self.settings.mem3]
        count = 0
        while not memory.full:
            pdu = self._encode_deliver(DUMMY_SENDER, DUMMY_TEXT, None)[0]
            memory.store(StoredSms(pdu, codec.tpdu_length(pdu), REC_READ))
            count += 1
        return count

    @property
    def pending(self) -> int:
        """Messages and reports the network holds (storage full, modem away)."""
        return self._reception.held

    def _encode_deliver(
        self, sender: str, text: str, national: str | None, reference: int | None = None
    ) -> list[str]:
        if reference is None:
            self._concat_ref = (self._concat_ref + 1) % 256
            reference = self._concat_ref
        return codec.deliver_pdus(
            sender, text, national=national, smsc=self.smsc, reference=reference
        )

    def accepting(self) -> bool:
        """Booted with the radio on: the network can hand messages over."""
        return self._ready and self.cfun == 1

    def take_ack(self) -> bool:
        """AT+CNMA: True when an acknowledgement was expected."""
        return self._reception.take_ack()

    def storage_changed(self) -> None:
        """After a delete (or CFUN=1): the network hands over what it held."""
        self._reception.flush()

    # ------------------------------------------------------------------ sending

    def start_cmgs(self, length: int) -> None:
        self._cmgs_length = length
        for line in self._before_prompt:
            self.urc(line)
        self._before_prompt.clear()
        self._wire.pdu_mode = True
        self._wire.write(self._prompt)

    def _on_pdu(self, raw: bytes | None) -> None:
        if raw is None:
            self.respond((), "OK")  # ESC: the send is cancelled
            return
        pdu_hex = raw.translate(None, b"\r\n \t").decode("ascii", "replace").upper()
        if self._swallow_next_pdu:
            self._swallow_next_pdu = False
            self._accept_submit(pdu_hex, answered=False)
            return
        if self._fail_cms:
            self.respond((), self.cms(self._fail_cms.popleft()))
            return
        if self.cfun != 1 or self.registration not in (1, 5):
            self.respond((), self.cms(331))
            return
        if not self._accept_submit(pdu_hex, answered=True):
            self.respond((), self.cms(304))

    def _accept_submit(self, pdu_hex: str, *, answered: bool) -> bool:
        try:
            if codec.tpdu_length(pdu_hex) != self._cmgs_length:
                return False
            submit = codec.decode_submit(pdu_hex)
        except (PduError, ValueError):
            return False
        mr = self._mr
        self._mr = (self._mr + 1) % 256
        self._records.add_sent(SentMessage(mr, submit, pdu_hex, time.time(), answered))
        if self.radio_time and answered:
            self._wire.paused = True  # the AT channel is blocked until the answer
            self._spawn(self._radio(mr, submit), device=True)
        else:
            self._complete_submit(mr, submit, answered)
        return True

    async def _radio(self, mr: int, submit: Submit) -> None:
        await asyncio.sleep(self.radio_time)
        self._complete_submit(mr, submit, True)
        self.next_command_ready()

    def _complete_submit(self, mr: int, submit: Submit, answered: bool) -> None:
        if answered:
            self.respond((f"+CMGS: {mr}",), "OK")
            self._records.answer_written()
        if submit.request_report and self.report_delay is not None:
            status = self._report_overrides.get(submit.recipient, self.report_status)
            self._network_timer(self.report_delay, self._report_due, mr, submit.recipient, status)

    def _network_timer(self, delay: float, callback: Callable[..., None], *args: Any) -> None:
        """Schedule a network event; stop() cancels it, an unplug does not."""
        loop = self._require_loop()
        self._timer_seq += 1
        key = self._timer_seq

        def fire() -> None:
            del self._timers[key]
            callback(*args)

        self._timers[key] = loop.call_soon(fire) if delay == 0 else loop.call_later(delay, fire)

    def network_timer(self, delay: float, callback: Callable[[], None]) -> None:
        """A network-side retry for reception (see ``_network_timer``)."""
        self._network_timer(delay, callback)

    def _report_due(self, mr: int, recipient: str, status: int) -> None:
        pdu = codec.status_report_pdu(mr, recipient, status, smsc=self.smsc)
        self._reception.arrive(Arrival("report", pdu))

    def time_sends(self) -> list[tuple[float, str]]:
        """From now on, stamp each AT+CMGS read and +CMGS answer written (monotonic
        seconds, ``"command"`` or ``"answer"``): the gaps a gateway leaves between sends."""
        if self._records.send_times is None:
            self._records.send_times = []
        return self._records.send_times

    async def wait_sent(
        self,
        count: int,
        timeout: float,  # noqa: ASYNC109 - tests read better with the deadline inline
    ) -> list[SentMessage]:
        """Wait until ``count`` segments were accepted; TimeoutError after ``timeout``."""
        return await self._records.wait_sent(count, timeout)

    async def wait_command(
        self,
        prefix: str,
        timeout: float,  # noqa: ASYNC109 - tests read better with the deadline inline
        *,
        start: int = 0,
    ) -> str:
        """The first command from ``commands[start:]`` starting with ``prefix`` (any case).

        Pass ``start=len(sim.commands)`` to wait for a new one only.
        """
        return await self._records.wait_command(prefix, timeout, start)

    # ------------------------------------------------------------------ IO

    def _on_line(self, raw: bytes) -> None:
        if self.settings.echo:
            self._wire.write(raw + b"\r")
        line = raw.translate(None, _CONTROL_BYTES).decode("ascii", "replace").strip()
        start = line.upper().find("AT")
        if start < 0:
            return  # a modem's parser waits for "AT"; anything before it is noise
        line = line[start:]
        self._records.add_command(line)
        if self._command_faults and self._faulted(line):
            return
        if self._busy_answers and line.upper() != "AT":
            self._busy_answers -= 1
            self.respond((), error_final(self, "CME", 515))
            return
        if self._late_answers and (late := self._late(line)) is not None:
            self._wire.paused = True  # the channel is busy until the late answer
            self.later(late, self._answer_late, line)
            return
        self._dispatch(line)

    def _dispatch(self, line: str) -> None:
        try:
            dispatch(self, line)
        except Exception:  # a simulator bug must not kill the reader; answer like a modem
            LOGGER.exception("simulated modem %s: command failed", self.path)
            self.respond((), "ERROR")

    def _late(self, line: str) -> float | None:
        upper = line.upper()
        for fault in self._late_answers:
            if upper.startswith(fault.prefix):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._late_answers.remove(fault)
                return fault.delay
        return None

    def _answer_late(self, line: str) -> None:
        self._wire.paused = False
        self._dispatch(line)
        if not self._wire.paused:
            self._wire.process()

    def busy_for(self, count: int) -> None:
        """Answer the next ``count`` commands (bare ``AT`` aside) with +CME ERROR: 515."""
        self._busy_answers = count

    def _faulted(self, line: str) -> bool:
        upper = line.upper()
        for fault in self._command_faults:
            if upper.startswith(fault.prefix):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._command_faults.remove(fault)
                self.respond((), fault.final)
                return True
        return False

    def respond(self, lines: tuple[str, ...] | list[str], final: str) -> None:
        """One answer: ``\\r\\n<lines, CRLF-separated>\\r\\n`` then ``\\r\\n<final>\\r\\n``."""
        eol = self._eol
        body = f"\r\n{eol.join(lines)}{eol}" if lines else ""
        text = f"{body}\r\n{final}{eol}"
        self._output(text.encode("ascii", "replace"))

    def urc(self, line: str) -> None:
        self._output(f"\r\n{line}{self._eol}".encode("ascii", "replace"))

    def urc_with_pdu(self, header: str, pdu_hex: str) -> None:
        """A two-line URC (+CMT/+CDS): the header, then the PDU on its own line."""
        eol = self._eol
        self._output(f"\r\n{header}{eol}{pdu_hex}{eol}".encode())

    def _output(self, data: bytes) -> None:
        """Modem output, with line noise added when ``set_noise`` asked for it."""
        if self._noise_probability:
            data = self._add_noise(data)
        self._wire.write(data)

    def _add_noise(self, data: bytes) -> bytes:
        rng = self._noise_random
        pieces = data.split(b"\n")
        out: list[bytes] = []
        for piece in pieces:
            if piece and rng.random() < self._noise_probability:
                count = rng.randint(1, NOISE_MAX_BYTES)
                noise = bytes(rng.randrange(0x80, 0x100) for _ in range(count))
                # A line of its own, or ahead of this line's text.
                piece = noise + self._eol.encode() + piece if rng.random() < 0.5 else noise + piece
            out.append(piece)
        return b"\n".join(out)

    # ------------------------------------------------------------------ helpers

    def next_command_ready(self) -> None:
        """Continue with buffered input after a deferred answer."""
        self._wire.paused = False
        self._wire.process()

    def cms(self, number: int) -> str:
        return error_final(self, "CMS", number)

    def registration_fields(self, name: str, n: int, *, urc: bool) -> str:
        """The body of a +CREG/+CGREG/+CEREG line for ``n`` (0, 1 or 2)."""
        stat = self.registration if self.cfun == 1 else 0
        head = f"{stat}" if urc else f"{n},{stat}"
        if n < 2 or stat not in (1, 5):
            return head
        loc = "4CA,81DE445" if self.profile.creg_hex_unquoted else '"1A2B","00C3D4E5"'
        act = f",{self.act}" if self.profile.creg_act or name != "+CREG" else ""
        return f"{head},{loc}{act}"

    def _spawn(self, coro: Coroutine[Any, Any, None], *, device: bool) -> None:
        task = self._require_loop().create_task(coro)
        group = self._device_tasks if device else self._network_tasks
        group.add(task)
        task.add_done_callback(_done_callback(group))

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("SimulatedModem.start() has not been awaited")
        return self._loop


async def _after(delay: float, callback: Callable[..., None], args: tuple[Any, ...]) -> None:
    await asyncio.sleep(delay)
    callback(*args)


def _done_callback(group: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
    def done(task: asyncio.Task[None]) -> None:
        group.discard(task)
        if not task.cancelled() and task.exception() is not None:
            LOGGER.error("simulated modem task failed", exc_info=task.exception())

    return done


__all__ = ["DEMO_TEXT", "SentMessage", "SimulatedModem"]
