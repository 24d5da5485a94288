"""``smsgw``: the command line of the gateway.

Expected failures (bad config, missing key file, daemon down) print one line to
stderr and exit with a code from the table in ``EPILOG``; only a bug shows a
traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import inspect
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, TextIO

from gateway.cli import admin as cli_admin
from gateway.cli import backups as cli_backups
from gateway.cli import client as cli_client
from gateway.cli import key_limits
from gateway.cli import simulate_text as cli_simulate_text
from gateway.cli.demo_banner import demo_banner, smsgw_command
from gateway.compat.sids import API_KEY, account_sid, to_sid
from gateway.config import LOG_FORMATS, Config, load_config
from gateway.errors import (
    AuditBroken,
    ConfigError,
    Conflict,
    Forbidden,
    GatewayError,
    KeyFileError,
    NotFound,
    StoreDamaged,
    Unauthorized,
    Unavailable,
    ValidationError,
)
from gateway.logs import setup_logging
from gateway.store.base import KeyLimits

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_CONFIG: Final = 3
EXIT_KEY: Final = 4
EXIT_UNREACHABLE: Final = 5
EXIT_NOT_FOUND: Final = 6

PROBE_TIMEOUT_SECONDS: Final = 1.0
DEFAULT_CONFIG: Final = "/etc/smsgw/smsgw.toml"
DEMO_CONFIG: Final = Path(__file__).resolve().parents[2] / "config" / "demo.toml"

EPILOG: Final = """\
exit codes:
  0  ok
  1  runtime error
  2  usage error (bad arguments, or a request the API refused as invalid)
  3  configuration invalid
  4  key file, permission or damaged/missing database problem (also: API key refused)
  5  daemon unreachable or not ready
  6  not found

environment:
  SMSGW_CONFIG   config file for init, run, keys, rotate-key, audit, backup, restore
                 (default /etc/smsgw/smsgw.toml)
  SMSGW_URL      API address for send, status, modems, modem (default http://127.0.0.1:8080)
  SMSGW_API_KEY  API key for send, status, modems, modem
"""


class _Usage(Exception):
    """A usage error found after parsing (exit 2)."""


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["simulate"] and args_list[1:2] != ["text"]:
        return _simulate(args_list[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # --help, or argparse's own usage error
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except _Usage as exc:
        _error(str(exc))
        return EXIT_USAGE
    except GatewayError as exc:
        _error(f"{exc.message} ({exc.code})" if isinstance(exc, StoreDamaged) else exc.message)
        return exit_code_for(exc)
    except PermissionError as exc:
        _error(f"permission denied: {exc.filename or exc}")
        return EXIT_KEY
    except OSError as exc:  # disk full, read-only file system, a port already taken
        where = f": {exc.filename}" if exc.filename else ""
        _error(f"{exc.strerror or exc}{where}")
        return EXIT_ERROR


def exit_code_for(exc: GatewayError) -> int:
    if isinstance(exc, ConfigError):
        return EXIT_CONFIG
    if isinstance(exc, KeyFileError | StoreDamaged | Unauthorized | Forbidden):
        return EXIT_KEY
    if isinstance(exc, Unavailable):
        return EXIT_UNREACHABLE
    if isinstance(exc, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(exc, ValidationError):
        return EXIT_USAGE
    return EXIT_ERROR


def _error(message: str) -> None:
    sys.stderr.write(f"smsgw: {message}\n")


def _out() -> TextIO:
    return sys.stdout


# parser -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="smsgw",
        description="Self-hosted SMS gateway for clinics: USB modems, encrypted queue, HTTP API.",
        epilog=EPILOG,
        formatter_class=fmt,
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name, help=summary, description=description, epilog=EPILOG, formatter_class=fmt
        )
        return p

    def config_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--config",
            metavar="PATH",
            default=os.environ.get("SMSGW_CONFIG") or DEFAULT_CONFIG,
            help="configuration file (default: $SMSGW_CONFIG or %(default)s)",
        )

    def api_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--url",
            default=cli_client.default_url(),
            help="API address (default: $SMSGW_URL or %(default)s)",
        )
        p.add_argument(
            "--key",
            default=None,
            help="API key (default: $SMSGW_API_KEY); prefer the variable, "
            "since arguments are visible to other users of the host",
        )

    p = command(
        "init",
        "create the data directory, key file, database and a first admin API key",
        "Create the data directory (0700), the encryption key file (0600) and the "
        "database (0600), then print an admin API key once. Refuses to overwrite an "
        "existing key file: a new key would make the stored messages unreadable. "
        "With --new-database: keep the key file and start over on an empty database, "
        "after the old one was lost (the daemon refuses to create one on its own).",
    )
    config_option(p)
    p.add_argument(
        "--new-database",
        action="store_true",
        help="start over on an empty database with the existing key file (the daemon "
        "must be stopped; a non-empty database must be moved away first)",
    )
    p.add_argument(
        "--self-signed",
        action="store_true",
        help="also make a private key (0600) and a self-signed certificate for serving "
        "the API over TLS on a LAN (names: [server] host, localhost and this machine's "
        "host name), and point [server] tls_cert/tls_key at them; clients then trust that "
        "certificate. Works on an initialised gateway too (keys and database untouched)",
    )
    p.set_defaults(handler=_init)

    p = command(
        "run",
        "run the daemon in the foreground",
        "Run the gateway daemon in the foreground until SIGTERM or Ctrl-C "
        "(under systemd: see systemd/smsgw.service).",
    )
    config_option(p)
    p.add_argument("--log-format", choices=LOG_FORMATS, help="override [logging].format")
    p.set_defaults(handler=_run)

    p = command(
        "demo",
        "run on two simulated modems, ready to try (no hardware)",
        "Quick start: initialise the demo data directory if needed, print the API "
        "address, an API key and example requests, then run the daemon on two "
        "simulated modems. Stop it with Ctrl-C; delete demo-data/ to start over.",
    )
    p.add_argument(
        "--config",
        metavar="PATH",
        default=None,
        help=f"demo configuration (default: {DEMO_CONFIG})",
    )
    p.add_argument("--port", type=int, default=None, help="API port (default: from the config)")
    p.add_argument("--log-format", choices=LOG_FORMATS, help="override [logging].format")
    p.set_defaults(handler=_demo)

    p = command(
        "send",
        "send one SMS through a running daemon",
        "Queue one message through the HTTP API; prints its id and state.",
    )
    p.add_argument("--to", required=True, help="recipient, E.164 (+15551234567) or national")
    p.add_argument("--body", required=True, help="message text")
    p.add_argument("--priority", choices=("urgent", "normal", "bulk"), default=None)
    api_options(p)
    p.set_defaults(handler=_send)

    p = command(
        "status",
        "show modems, queue counts and readiness",
        "Show the modems, queue counts and whether the daemon is ready to send. "
        "Exits 5 when the daemon is unreachable or no modem is ready.",
    )
    api_options(p)
    p.set_defaults(handler=_status)

    p = command("modems", "list modems and their state", "List the modems and their state.")
    api_options(p)
    p.set_defaults(handler=_modems)

    p = command(
        "broadcast",
        "send one template to the recipients of a CSV file, and follow it",
        "A broadcast sends one template to many patients at bulk priority: a CSV file with "
        "a 'to' column and one column per template variable (UTF-8, a header line). Bad "
        "rows are counted as invalid and the rest go on (--strict refuses the file "
        "instead); a number twice is sent once; opted-out patients are skipped.\n\n"
        "examples:\n"
        "  smsgw broadcast send flu.csv --template flu-shot --category reminder\n"
        "  smsgw broadcast status bc_01JD...\n"
        "  smsgw broadcast pause bc_01JD...",
    )
    actions = p.add_subparsers(title="actions", metavar="ACTION")
    bp = actions.add_parser(
        "send",
        help="upload a CSV and show a progress bar with the counts until done",
        epilog=EPILOG,
        formatter_class=fmt,
    )
    bp.add_argument("csv", metavar="FILE", type=Path, help="the recipients, CSV")
    bp.add_argument("--template", required=True, metavar="NAME", help="the template to send")
    bp.add_argument("--category", default=None, help="default: the template's")
    bp.add_argument("--name", default=None, help="the broadcast's name (default: the file's)")
    bp.add_argument("--strict", action="store_true", help="refuse the file if any row is bad")
    bp.add_argument("--no-wait", dest="wait", action="store_false", help="print the id and return")
    api_options(bp)
    bp.set_defaults(handler=_broadcast_send)
    for action, summary in (
        ("status", "show a broadcast's state and counts"),
        ("pause", "stop sending; queued messages are held"),
        ("resume", "send again"),
        ("cancel", "cancel what is not sent yet"),
    ):
        bp = actions.add_parser(action, help=summary, epilog=EPILOG, formatter_class=fmt)
        bp.add_argument("id", metavar="ID", help="the broadcast's id (bc_...)")
        api_options(bp)
        bp.set_defaults(handler=_broadcast_action, action=action)
    p.set_defaults(handler=_missing_action(p))

    p = command(
        "clock",
        "confirm the wall clock after a step the daemon held purges and expiries on",
        "When the wall clock jumps in a way the daemon cannot explain (it moved far from "
        "the monotonic clock, or reads far from the newest record in the store), retention "
        "purges and expiries wait, and /readyz says why, until the clock steps back or you "
        "confirm it is right. Check it first (timedatectl), then confirm. Needs an admin "
        "API key; recorded in the audit trail.",
    )
    actions = p.add_subparsers(title="actions", metavar="ACTION")
    cp = actions.add_parser(
        "confirm",
        help="trust the clock as it reads now",
        epilog=EPILOG,
        formatter_class=fmt,
    )
    api_options(cp)
    cp.set_defaults(handler=_clock_confirm)
    p.set_defaults(handler=_missing_action(p))

    p = command(
        "modem",
        "run an AT command or a USSD request on one modem, through the daemon",
        "Technician passthrough: the daemon holds each modem's port, so run a command "
        "through it instead of stopping it. The request waits for any send in progress "
        "and is written to the audit trail. Needs an admin API key.\n\n"
        "examples:\n"
        "  smsgw modem front-desk at 'AT+COPS?'\n"
        "  smsgw modem front-desk at 'AT+COPS=?' --timeout 180\n"
        "  smsgw modem front-desk ussd '*100#'",
    )
    p.add_argument("name", metavar="NAME", help="the modem's configured name")
    actions = p.add_subparsers(title="actions", metavar="ACTION")
    mp = actions.add_parser(
        "at",
        help="run one AT command and print the modem's answer",
        description="Run one AT command (one line; AT+CMGS, AT+CMGW and AT+CMGC are refused) "
        "and print the modem's information lines, then OK. A modem error exits 1 with the "
        "modem's +CME/+CMS ERROR in the message.",
        epilog=EPILOG,
        formatter_class=fmt,
    )
    mp.add_argument("command", metavar="COMMAND", help="e.g. 'AT+CSQ' (quote it for the shell)")
    mp.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds to wait for the answer, at most 180 (default: the modem's command_timeout)",
    )
    api_options(mp)
    mp.set_defaults(handler=_modem_at)
    mp = actions.add_parser(
        "ussd",
        help="run one USSD request and print the network's reply",
        description="Run one USSD request (e.g. '*100#' for the balance on many networks) and "
        "print the reply and, when one reads as such, the amount.",
        epilog=EPILOG,
        formatter_class=fmt,
    )
    mp.add_argument("code", metavar="CODE", help="digits, * and #, e.g. '*100#'")
    api_options(mp)
    mp.set_defaults(handler=_modem_ussd)
    p.set_defaults(handler=_missing_action(p))

    p = command(
        "audit",
        "check the audit trail (on this host, with the key file)",
        "The audit trail records technician commands, modem resets, API key changes and "
        "key rotations, each entry chained to the one before by its hash.",
    )
    audit = p.add_subparsers(title="actions", metavar="ACTION")
    ap = audit.add_parser(
        "verify",
        help="check every entry's hash chain; exits 1 if it is broken",
        description="Walk the audit trail from its first entry and check each link. Exits 0 "
        "and prints the number of entries when it holds; exits 1 naming the first entry that "
        "does not verify. Works whether or not the daemon runs.",
        epilog=EPILOG,
        formatter_class=fmt,
    )
    config_option(ap)
    ap.set_defaults(handler=_audit_verify)
    p.set_defaults(handler=_missing_action(p))

    p = command(
        "keys",
        "create, list or revoke API keys (on this host, with the key file)",
        "Manage API keys directly in the store (needs the config and key file; works "
        "whether or not the daemon runs). A token is printed once and never stored.",
    )
    keys = p.add_subparsers(title="actions", metavar="ACTION")
    kp = keys.add_parser(
        "create", help="create a key and print its token once", epilog=EPILOG, formatter_class=fmt
    )
    kp.add_argument("--name", required=True, help="who uses the key (e.g. ehr, portal)")
    kp.add_argument(
        "--scopes",
        default="send,read",
        help="comma-separated: send, read (its own messages and replies), read_all "
        "(every client's, for staff tools), admin (default: %(default)s)",
    )
    kp.add_argument(
        "--category",
        default="care",
        help="the category of this key's Twilio- and Kannel-shaped sends, and of /v1 sends "
        "that name none; one of the config's [categories] (default: %(default)s)",
    )
    key_limits.add_options(kp)
    config_option(kp)
    kp.set_defaults(handler=_keys_create)
    kp = keys.add_parser(
        "set",
        help="change a key's request rate, daily quota, expiry or networks",
        epilog=EPILOG,
        formatter_class=fmt,
    )
    kp.add_argument("id", help="key id, as shown by `smsgw keys list`")
    key_limits.add_options(kp)
    config_option(kp)
    kp.set_defaults(handler=_keys_set)
    kp = keys.add_parser(
        "list", help="list keys (never their tokens)", epilog=EPILOG, formatter_class=fmt
    )
    config_option(kp)
    kp.set_defaults(handler=_keys_list)
    kp = keys.add_parser("revoke", help="revoke a key by id", epilog=EPILOG, formatter_class=fmt)
    kp.add_argument("id", help="key id or AccountSid, as shown by `smsgw keys list`")
    config_option(kp)
    kp.set_defaults(handler=_keys_revoke)
    kp = keys.add_parser(
        "callback-secret",
        help="print the secret a key's Twilio status callbacks are signed with",
        description="Twilio's RequestValidator checks X-Twilio-Signature with the auth "
        "token; this gateway keeps no token, and signs a key's status callbacks with this "
        "secret instead (derived from the key file, unchanged by key rotation). Give it "
        "to the client's RequestValidator. Recorded in the audit trail.",
        epilog=EPILOG,
        formatter_class=fmt,
    )
    kp.add_argument("id", help="key id (the Twilio AccountSid), as shown by `smsgw keys list`")
    config_option(kp)
    kp.set_defaults(handler=_keys_callback_secret)
    p.set_defaults(handler=_missing_action(p))

    p = command(
        "rotate-key",
        "add a new encryption key and re-encrypt stored values",
        "Add a new current key to the key file (the old ones stay until nothing uses "
        "them, so nothing becomes unreadable). If the daemon runs, it re-encrypts the "
        "stored values in the background and then retires the old keys (follow its log "
        "or the key.rotated event); otherwise this command does it in batches, printing "
        "progress. Run it as the service user. Back up the key file afterwards.",
    )
    config_option(p)
    p.set_defaults(handler=_rotate_key)

    p = command(
        "backup",
        "copy the database to a directory, safely while the daemon runs",
        "Write a consistent copy of the database (SQLite's online backup) to "
        "DIR/smsgw-<UTC time>.db, mode 0600. It stays encrypted and the key file is not "
        "part of it: keep the key file's backup apart from these. Purges do not reach "
        "backups; --keep N removes all but the newest N in DIR.",
    )
    p.add_argument("--to", required=True, metavar="DIR", help="directory for the backup")
    p.add_argument("--keep", type=int, default=None, metavar="N", help="keep the newest N")
    config_option(p)
    p.set_defaults(handler=_backup)

    p = command(
        "restore",
        "replace the database with a backup, checked against the key file first",
        "Check the backup (pages sound, a schema this version reads, sealed with a key the "
        "key file holds), then put it in place of the database, which is kept beside it as "
        "smsgw.db.before-restore-<time>. The daemon must be stopped (exit 1 otherwise); a "
        "backup the key file does not open, or a damaged one, exits 4 and changes nothing.",
    )
    p.add_argument("--from", dest="source", required=True, metavar="FILE", help="backup file")
    config_option(p)
    p.set_defaults(handler=_restore)

    p = command(
        "simulate",
        "text a running demo's simulated modem as a patient, or run stand-alone "
        "simulated modems (see `smsgw simulate --help`)",
        "`smsgw simulate text` texts a simulated modem of a running daemon as a patient; "
        "anything else after `simulate` runs stand-alone simulated modems "
        "(python -m drivers.simulator).",
    )
    simulate = p.add_subparsers(title="actions", metavar="ACTION")
    sp = simulate.add_parser(
        "text",
        help="send TEXT to a simulated modem from a patient's number",
        description="Deliver TEXT from NUMBER to a simulated modem of the running daemon, "
        "as the network would; it arrives as an inbound text (GET /v1/inbound, webhooks).\n\n"
        'example:\n  smsgw simulate text --modem sim-quectel --from +15551234567 "C"',
        epilog=EPILOG,
        formatter_class=fmt,
    )
    cli_simulate_text.add_arguments(sp)
    sp.add_argument(
        "--config",
        metavar="PATH",
        default=os.environ.get("SMSGW_CONFIG") or str(DEMO_CONFIG),
        help="the running daemon's configuration (default: $SMSGW_CONFIG or the demo's)",
    )
    sp.set_defaults(handler=_simulate_text)
    return parser


def _missing_action(p: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def handler(_args: argparse.Namespace) -> int:
        p.print_help(sys.stderr)
        return EXIT_USAGE

    return handler


# handlers -----------------------------------------------------------------------


def _load(path: str) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        if exc.field is None:  # already names the file
            raise
        raise ConfigError(f"{path}: {exc.message}", field=exc.field) from None


def _init(args: argparse.Namespace) -> int:
    if args.self_signed:
        return _init_self_signed(args)
    config = _load(args.config)
    if args.new_database:
        token = asyncio.run(cli_admin.new_database(config.store))
    else:
        token = asyncio.run(cli_admin.init(config.store))
    out = _out()
    out.write(
        f"initialised {config.store.data_dir}\n"
        f"  key file: {config.store.key_file} (back it up apart from the database)\n"
        f"  database: {config.store.database}\n"
        f"admin API key (shown once, store it safely):\n{token}\n"
    )
    return EXIT_OK


def _init_self_signed(args: argparse.Namespace) -> int:
    """The TLS pair first (the file may not pass the TLS rule before it names one), then
    the rest of ``init`` unless the key file exists already."""
    from gateway.cli import self_signed  # cryptography's x509: loaded only for this

    path = Path(args.config).expanduser().absolute()
    try:
        pair = self_signed.make_for_config(path)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.message}", field=exc.field) from None
    out = _out()
    out.write(
        f"made a self-signed certificate for a LAN (give it to the clients to trust):\n"
        f"  certificate: {pair.cert}\n  private key: {pair.key} (0600)\n"
        f"  {path} now names them in [server]\n"
    )
    config = _load(args.config)
    if args.new_database:
        return _init(argparse.Namespace(**{**vars(args), "self_signed": False}))
    if cli_admin.is_initialised(config.store):
        return EXIT_OK
    return _init(argparse.Namespace(**{**vars(args), "self_signed": False}))


def _run(args: argparse.Namespace) -> int:
    return run_daemon(_with_log_format(_load(args.config), args.log_format))


def _with_log_format(config: Config, fmt: str | None) -> Config:
    if not fmt:
        return config
    return dataclasses.replace(config, logging=dataclasses.replace(config.logging, format=fmt))


def run_daemon(config: Config, on_started: Callable[[], None] | None = None) -> int:
    """Hand over to ``gateway.daemon.run`` with logging set up from the config, and the
    built-in simulators its simulated modems need (gateway.cli.simulators)."""
    setup_logging(config.logging.level, config.logging.format)
    try:
        daemon = importlib.import_module("gateway.daemon")
    except ModuleNotFoundError as exc:
        if exc.name != "gateway.daemon":
            raise
        raise GatewayError("this installation has no daemon (gateway.daemon is missing)") from None
    if _simulates(config):  # the simulator is loaded only when a modem is simulated
        simulators = importlib.import_module("gateway.cli.simulators")
        result: Any = daemon.run(config, devices=simulators.simulated_modems, on_started=on_started)
    else:
        result = daemon.run(config, on_started=on_started)
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    return int(result) if isinstance(result, int) else EXIT_OK


def _simulates(config: Config) -> bool:
    return any(m.enabled and m.simulate is not None for m in config.modems)


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _demo(args: argparse.Namespace) -> int:
    path = Path(args.config) if args.config else DEMO_CONFIG
    config = _with_log_format(_load(str(path)), args.log_format)
    if args.port is not None:
        if not 0 < args.port < 65536:
            raise _Usage(f"--port {args.port} is not a TCP port")
        config = dataclasses.replace(
            config, server=dataclasses.replace(config.server, port=args.port)
        )
    server = config.server
    if asyncio.run(cli_client.listening(server.host, server.port, PROBE_TIMEOUT_SECONDS)):
        raise Conflict(
            f"{server.host}:{server.port} is already in use (another smsgw demo?); "
            f"stop it or pick another port with --port"
        )
    out = _out()
    if not cli_admin.is_initialised(config.store):
        asyncio.run(cli_admin.init(config.store))
        out.write(f"initialised demo data in {config.store.data_dir}\n")
    token = asyncio.run(cli_admin.demo_key(config.store))
    option = "" if path == DEMO_CONFIG else f" --config {shlex.quote(str(path.resolve()))}"
    banner = demo_banner(config, token, smsgw_command(), option)

    def show_banner() -> None:  # once the API listens: its commands work when printed
        out.write(banner)
        out.flush()

    return run_daemon(config, on_started=show_banner)


def _client(args: argparse.Namespace) -> cli_client.ApiClient:
    return cli_client.ApiClient(args.url, args.key or cli_client.default_key())


def _send(args: argparse.Namespace) -> int:
    asyncio.run(
        cli_client.send(_client(args), _out(), to=args.to, body=args.body, priority=args.priority)
    )
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    ready = asyncio.run(cli_client.status(_client(args), _out()))
    return EXIT_OK if ready else EXIT_UNREACHABLE


def _clock_confirm(args: argparse.Namespace) -> int:
    asyncio.run(cli_client.confirm_clock(_client(args), _out()))
    return EXIT_OK


def _modems(args: argparse.Namespace) -> int:
    asyncio.run(cli_client.modems(_client(args), _out()))
    return EXIT_OK


def _broadcast_send(args: argparse.Namespace) -> int:
    from gateway.cli import broadcasts  # rich: loaded only for these commands

    if not args.csv.is_file():
        raise _Usage(f"no such file: {args.csv}")
    asyncio.run(
        broadcasts.send(
            _client(args),
            _out(),
            args.csv,
            template=args.template,
            name=args.name,
            category=args.category,
            strict=args.strict,
            wait=args.wait,
        )
    )
    return EXIT_OK


def _broadcast_action(args: argparse.Namespace) -> int:
    from gateway.cli import broadcasts

    if args.action == "status":
        asyncio.run(broadcasts.status(_client(args), _out(), args.id))
    else:
        asyncio.run(broadcasts.act(_client(args), _out(), args.id, args.action))
    return EXIT_OK


def _modem_at(args: argparse.Namespace) -> int:
    asyncio.run(
        cli_client.modem_at(
            _client(args),
            _out(),
            name=args.name,
            command=args.command,
            timeout_seconds=args.timeout,
        )
    )
    return EXIT_OK


def _modem_ussd(args: argparse.Namespace) -> int:
    asyncio.run(cli_client.modem_ussd(_client(args), _out(), name=args.name, code=args.code))
    return EXIT_OK


def _audit_verify(args: argparse.Namespace) -> int:
    config = _load(args.config)
    try:
        count = asyncio.run(cli_admin.verify_audit(config.store))
    except AuditBroken as exc:
        _error(f"audit trail broken ({exc.code}): {exc.message}")
        return EXIT_ERROR
    _out().write(f"audit trail verified: {count} entries, chain intact\n")
    return EXIT_OK


def _keys_create(args: argparse.Namespace) -> int:
    config = _load(args.config)
    scopes = cli_admin.parse_scopes(args.scopes)
    category = cli_admin.check_category(args.category, config.categories)
    limits = key_limits.apply(args, KeyLimits())
    key, token = asyncio.run(
        cli_admin.create_key(config.store, args.name, scopes, limits, category=category)
    )
    out = _out()
    out.write(
        f"created API key {key.id} ({key.name}: {','.join(sorted(scopes))};"
        f" category {key.default_category})\n"
    )
    out.write(f"  AccountSid:  {account_sid(key.id)} (Twilio clients; the key id works too)\n")
    out.write(
        f"  API key sid: {to_sid(key.id, API_KEY)} (Twilio's API-key form; secret: the token)\n"
    )
    if limits != KeyLimits():
        out.write(f"limits: {key_limits.describe(limits)}\n")
    out.write(f"token (shown once):\n{token}\n")
    return EXIT_OK


def _keys_set(args: argparse.Namespace) -> int:
    if not key_limits.given(args):
        raise ValidationError("give at least one of --rate, --daily, --expires, --networks")
    config = _load(args.config)
    now = time.time()
    key = asyncio.run(
        cli_admin.set_key_limits(
            config.store, args.id, lambda base: key_limits.apply(args, base, now)
        )
    )
    _out().write(f"API key {key.id} ({key.name}): {key_limits.describe(key.limits)}\n")
    return EXIT_OK


def _keys_list(args: argparse.Namespace) -> int:
    config = _load(args.config)
    keys = asyncio.run(cli_admin.list_keys(config.store))
    _out().write(cli_admin.format_keys(keys))
    return EXIT_OK


def _keys_revoke(args: argparse.Namespace) -> int:
    config = _load(args.config)
    key = asyncio.run(cli_admin.revoke_key(config.store, args.id))
    _out().write(f"revoked API key {key.id} ({key.name})\n")
    return EXIT_OK


def _keys_callback_secret(args: argparse.Namespace) -> int:
    config = _load(args.config)
    secret = asyncio.run(cli_admin.callback_secret(config.store, args.id))
    _out().write(f"{secret}\n")
    return EXIT_OK


def _rotate_key(args: argparse.Namespace) -> int:
    config = _load(args.config)
    asyncio.run(cli_admin.rotate(config.store, _out()))
    return EXIT_OK


def _simulate_text(args: argparse.Namespace) -> int:
    cli_simulate_text.run(_load(args.config), args, _out())
    return EXIT_OK


def _backup(args: argparse.Namespace) -> int:
    config = _load(args.config)
    result = cli_backups.backup(config.store, Path(args.to), keep=args.keep)
    out = _out()
    info = result.info
    out.write(
        f"backup written: {info.path} ({info.size} bytes, schema {info.schema_version}, "
        f"sealed with key {info.key_id})\n"
        f"it opens only with the key file {config.store.key_file}: keep that backed up apart\n"
    )
    for old in result.pruned:
        out.write(f"removed older backup {old}\n")
    return EXIT_OK


def _restore(args: argparse.Namespace) -> int:
    config = _load(args.config)
    result = cli_backups.restore(config.store, Path(args.source))
    out = _out()
    out.write(f"restored {config.store.database} from {args.source}\n")
    if result.replaced is not None:
        out.write(f"the database it replaced is kept as {result.replaced}\n")
    return EXIT_OK


def _simulate(argv: list[str]) -> int:
    """Everything after ``simulate`` goes to the simulator's own command line."""
    try:
        module = importlib.import_module("drivers.simulator.cli")
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("drivers.simulator"):
            raise
        _error("the simulator command line is not available in this installation")
        return EXIT_ERROR
    try:
        result = module.main(argv)
    except SystemExit as exc:  # its argparse: --help, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    return int(result) if isinstance(result, int) else EXIT_OK
