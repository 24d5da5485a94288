"""What ``smsgw demo`` prints: commands a newcomer can paste as they are.

``smsgw`` is usually only in the virtualenv's ``bin``, not on the PATH of the shell the
demo was started from, so the hints name the script by the path that resolves there.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

from gateway.compat.sids import account_sid
from gateway.config import Config
from gateway.store.api_keys import parse_token


def smsgw_command(cwd: Path | None = None) -> str:
    """``smsgw`` when the PATH finds this installation's script, else its path (relative
    to ``cwd`` when under it), else ``python -m gateway.cli``."""
    script = Path(sys.executable).parent / "smsgw"
    if not script.is_file():
        return f"{shlex.quote(sys.executable)} -m gateway.cli"
    found = shutil.which("smsgw")
    if found is not None and Path(found).resolve() == script.resolve():
        return "smsgw"
    here = (cwd or Path.cwd()).resolve()
    absolute = script.parent.resolve() / script.name
    try:
        shown = str(absolute.relative_to(here))
    except ValueError:
        shown = str(absolute)
    return shlex.quote(shown)


def demo_banner(config: Config, token: str, smsgw: str, config_option: str = "") -> str:
    """``config_option``: ``--config PATH`` when the demo runs on another config than its
    own, for the commands that read it."""
    host = config.server.host
    url = config.server.public_url or f"http://{host}:{config.server.port}"
    modems = ", ".join(f"{m.name} ({m.simulate or m.profile})" for m in config.modems)
    parsed = parse_token(token)
    key_id = parsed[0] if parsed else "?"
    patient_modem = next((m.name for m in config.modems if m.simulate), None)
    text_in = (
        f"""
Text in as a patient (the reply shows in GET /v1/inbound and its webhook):

  {smsgw} simulate text{config_option} --modem {patient_modem} --from +15551234567 "C"
"""
        if patient_modem
        else ""
    )
    return f"""
smsgw demo
  API:         {url}
  status page: {url}/
  staff inbox: {url}/inbox (the API key below; answer the patients who text in)
  API key:     {token}
  key id:      {key_id}
  AccountSid:  {account_sid(key_id) if parsed else "?"} (Twilio clients; AuthToken: the API key)
  modems:      {modems}
  data:        {config.store.data_dir}

Try it (in another terminal, from this directory):

  export SMSGW_API_KEY={token}
  curl -s -X POST {url}/v1/messages \\
    -H "Authorization: Bearer $SMSGW_API_KEY" -H 'Content-Type: application/json' \\
    -d '{{"to": "+15551234567", "body": "Reminder: your appointment is tomorrow at 9:30."}}'
  curl -s {url}/v1/modems -H "Authorization: Bearer $SMSGW_API_KEY"

  {smsgw} send --url {url} --to +15551234567 --body "Hello"
  {smsgw} status --url {url}
{text_in}
Stop with Ctrl-C.

"""
