"""A simulated GSM/LTE modem on a real pseudo-terminal, for tests, benchmarks and the demo.

    async with SimulatedModem(tmp_path / "sim0", profile="quectel") as sim:
        ...  # open sim.path with the real driver; steer ``sim`` from the test

What a test can do while it runs (all durations in seconds):

- network: ``deliver(sender, text, *, national, direct, shuffle, concat_reference)``,
  ``deliver_pdu(hex)``, ``preload(sender, text)``, ``fill_storage()``, ``pending``,
  ``set_registration(stat, act=)``, ``set_signal(csq)``, ``set_report_status(number,
  status)``, ``set_ussd_reply(text)``;
- faults: ``hang()``/``resume()``, ``hang_after_prompt()``, ``fail_sends(cms, count)``,
  ``fail_command(prefix, final, count)``, ``set_prompt(bytes)``, ``before_prompt(urc)``,
  ``set_ack_timeout(s)``, ``emit(bytes)``, ``vanish()``/``reappear()``/``vanish_for(s)``,
  ``set_noise(probability, seed=)``, ``leave_at_prompt()`` (or ``at_prompt=True``),
  ``lose_registration(searching=)``/``deny_registration()``/``restore_registration()``,
  ``answer_late(prefix, delay, count)``, ``split_output(size)``, ``busy_for(count)``;
- records: ``sent`` (``SentMessage``), ``commands``, ``memories``, ``settings``;
  ``wait_sent(count, timeout)``, ``wait_command(prefix, timeout)``, ``wait_ready(timeout)``.

Profiles: ``PROFILES`` (the driver's profile names, then variants such as simcom7600).
Command line: ``python -m drivers.simulator --dir DIR``.
"""

from drivers.simulator.modem import SentMessage, SimulatedModem
from drivers.simulator.profiles import PROFILES

__all__ = ["PROFILES", "SentMessage", "SimulatedModem"]
