"""Modem drivers: one USB GSM/LTE modem over AT commands, the PDU codec, a simulator.

Layers, bottom up (each module knows only the one below it):

    transport.py   serial port (path or pyserial URL) on the event loop; bytes only
    lines.py       sans-IO splitter: bytes -> lines / the ``> `` prompt; counts garbage
    engine.py      AT command engine: one command in flight, final results, URC routing,
                   deadlines
    modem.py       modem operations and supervision (init, send, read, delete, health,
                   reset, USSD), with vendor quirk profiles from quirks.py
    pdu/           the SMS PDU codec (no IO)
    simulator/     a simulated modem on a real pseudo-terminal

The public interface the gateway uses (see modem.py):

    modem = Modem(ModemSettings(port=..., profile="quectel"), name="m1")
    await modem.start()              # supervision task: open, init, reopen on unplug
    await modem.wait_ready(timeout)  # raises ModemUnavailable
    modem.events                     # asyncio.Queue[ModemEvent] (drivers.types)
    mr = await modem.send(submit_pdu)  # one segment -> TP-MR; SendUnknown on lost answer
    await modem.delete(location)     # after the gateway committed an inbound message
    await modem.health(); await modem.reset(); await modem.ussd("*100#")
    await modem.command("AT+COPS?")  # technician passthrough, between sends
    await modem.stop()
"""
