"""Modem drivers: one USB GSM/LTE modem over AT commands, the PDU codec, a simulator.

Layers, bottom up (each module knows only the one below it):

    transport.py   serial port (path or pyserial URL) on the event loop; bytes only
    lines.py       sans-IO splitter: bytes -> lines / the ``> `` prompt; counts garbage
    urcs.py        the URC prefix table and the final-result grammar (no IO)
    engine.py      AT command engine: one command in flight under a priority lock,
                   final results, URC routing, deadlines, the shielded AT+CMGS exchange
    replies.py     parsers for answer and URC bodies (+CPMS, +CNMI, +CREG, +CMGL, ...)
    quirks.py      vendor profiles as data, one table (VENDOR_PROFILES: generic, simcom,
                   quectel, huawei, wavecom; PROFILE_NAMES, SETTING_NAMES with "auto")
    passthrough.py the rule for technician commands (check_passthrough, command_name)
    settings.py    ModemSettings (re-exported by modem.py)
    session.py     one open of the port: link + engine + per-open state and tasks
    bringup.py     boot wait and the init sequence that brings an open port to READY
    modem.py       supervision (reopen with backoff) and the operations (send, read,
                   delete, health, reset, USSD, passthrough)
    pdu/           the SMS PDU codec (no IO)
    simulator/     a simulated modem on a real pseudo-terminal

The public interface the gateway uses (see modem.py; all timeouts in seconds):

    modem = Modem(ModemSettings(port=..., profile="quectel"), name="m1")
    await modem.start()              # supervision task: open, init, reopen on unplug
    await modem.wait_ready(timeout)  # raises ModemUnavailable (also when the SIM is locked)
    modem.events                     # asyncio.Queue[ModemEvent] (drivers.types)
    modem.state, modem.state_reason, modem.identity, modem.stats  # stats.noise_bytes ...
    modem.registration               # Registration, best of CS/GPRS/EPS; .registered
    modem.next_concat_reference()    # 0..255, rotating per modem (8-bit concat IE)
    mr = await modem.send(submit_pdu)  # one segment -> TP-MR; SendUnknown on lost answer
    await modem.delete(location)     # after the gateway committed an inbound message;
                                     # True once the slot is free
    await modem.acknowledge(ack)     # AT+CNMA for a routed +CMT/+CDS, after the commit
    await modem.health(); await modem.reset(); await modem.ussd("*100#")
    await modem.command("AT+COPS?")  # technician passthrough, between sends; refused
                                     # (PassthroughRefused) as check_passthrough says
    await modem.stop()

Events: StateChanged(STARTING/READY/DOWN/CLOSED, reason) with reasons "initialised",
"identity_changed" (another IMEI answers on the same path), "unplugged", "unresponsive"
(missed deadlines, or no answer while bringing the port up), "hard_reset" (unresponsive
again within ``unresponsive_window`` of a re-initialise: AT+CFUN=1,1 and a reopen; at most
once per window, DOWN "unresponsive" with the backoff at its cap after that), "reset",
"rebooted", "sim_pin", "sim_absent", or an error code. While DOWN, a change to
"unresponsive" or "hard_reset" is announced again with the same state. InboundMessage and
StatusReportReceived (with their StoredLocation when stored; a message can be handed out
again after a reopen if it was not deleted; a RoutedAck when routed under CSMS service 1);
UndecodablePdu for a received PDU that did not decode even read again (keep it sealed,
then delete or acknowledge it the same way); NetworkChanged when the best registration
of the three domains changes after READY (+CREG/+CGREG/+CEREG URCs or a health poll),
or from ^RSSI (registration None).
"""
