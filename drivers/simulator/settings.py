"""Per-boot AT settings of the simulated modem (what ATZ, a reset or a replug restores)."""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.simulator.profiles import Profile


@dataclass(slots=True)
class AtSettings:
    echo: bool = True
    cmee: int = 0
    cmgf: int = 0  # 0 PDU mode, 1 text mode
    cscs: str = "IRA"
    csms: int = 0  # 1: routed +CMT/+CDS need AT+CNMA
    mem1: str = "ME"  # read, list, delete
    mem2: str = "ME"  # write, send
    mem3: str = "ME"  # where received messages are stored
    cnmi: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])
    creg_n: int = 0
    cgreg_n: int = 0
    cereg_n: int = 0
    cops_format: int = 0  # 0 long alphanumeric, 2 numeric
    curc: bool = True  # Huawei periodic URCs on

    @classmethod
    def for_profile(cls, profile: Profile) -> AtSettings:
        mem = profile.default_memory
        return cls(
            cmee=profile.default_cmee,
            mem1=mem,
            mem2=mem,
            mem3=mem,
            cnmi=list(profile.default_cnmi),
        )
