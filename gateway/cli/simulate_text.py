"""``smsgw simulate text``: play the patient, texting a simulated modem of a running
daemon (``smsgw demo``) through its simulators' network side (gateway.fleet.patient_line)."""

from __future__ import annotations

import argparse
import asyncio
from typing import TextIO

from gateway.config import Config
from gateway.core.numbers import normalize
from gateway.fleet.patient_line import text_in


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--modem", required=True, help="the simulated modem's name, e.g. sim-quectel")
    p.add_argument(
        "--from",
        dest="sender",
        required=True,
        metavar="NUMBER",
        help="the patient's number, E.164 (+15551234567) or national",
    )
    p.add_argument("text", metavar="TEXT", help="the text the patient sends")


def run(config: Config, args: argparse.Namespace, out: TextIO) -> None:
    sender = normalize(args.sender, config.server.default_country, field="from")
    asyncio.run(text_in(config.store.data_dir, args.modem, sender, args.text))
    out.write(f"texted {args.modem} as a patient; see GET /v1/inbound\n")
