"""Jinja rendering of the RTL top, the generated route modules and the cocotb bench."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jinja2

from ...ir.graph import Node
from ...ir.types import FixedType
from .hdl import OVF_CODE, ROUND_CODE, lib_dir


@lru_cache(maxsize=1)
def env() -> jinja2.Environment:
    """The Jinja environment over ``templates/rtl`` (strict: unknown variables are errors)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(lib_dir().parent)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, **ctx: Any) -> str:
    return env().get_template(template).render(**ctx)


def _extend(expr: str, width: int, signed: bool, to: int) -> str:
    """``expr`` (``width`` bits) sign- or zero-extended to ``to`` bits, as a signed value."""
    fill = f"{expr}[{width - 1}]" if signed else "1'b0"
    return f"$signed({{ {{{to - width}{{{fill}}}}}, {expr} }})"


def render_route(
    module: str,
    node: Node,
    ins: list[tuple[str, FixedType, int, int]],
    outs: list[tuple[str, FixedType, int, int]],
) -> str:
    """Verilog module of one route stage from its channel map ``attrs['map']``.

    ``ins``/``outs``: (tensor, type, channels, beat). Sources of one output may have different
    fractions: each is aligned exactly (left shift) to the largest, so a single converter per
    output lane computes ``convert(sign * x, F_src, out_type)``; lane ``l`` of output beat ``j``
    emits channel ``j * beat + l``.
    """
    route_map = node.attrs["map"]
    in_ctx = []
    for t, ft, c, b in ins:
        beats = c // b
        in_ctx.append({"name": t, "w": ft.width, "c": c, "b": b, "beats": beats, "type": str(ft),
                       "cb": beats.bit_length(), "addrs": _beat_addrs(f"n{len(in_ctx)}", c, b)})
    out_ctx = []
    for o, ((t, ft, c, b), entries) in enumerate(zip(outs, route_map)):
        srcs = sorted({int(e[0]) for e in entries}) or [0]
        frac = max(ins[s][1].frac for s in srcs)
        aw = max(ins[s][1].width + frac - ins[s][1].frac for s in srcs) + 2
        lanes: list[list[dict]] = [[] for _ in range(b)]
        for j, (src, ch, sign) in enumerate(entries):
            st = ins[int(src)][1]
            x = _extend(f"b{int(src)}[{int(ch)}]", st.width, st.signed, aw)
            sh = frac - st.frac
            x = f"({x} <<< {sh})" if sh else x
            lanes[j % b].append({"j": j // b, "expr": f"-{x}" if int(sign) < 0 else x})
        beats = c // b
        out_ctx.append({
            "name": t, "w": ft.width, "c": c, "b": b, "beats": beats, "type": str(ft),
            "cb": beats.bit_length(), "aw": aw, "frac": frac, "shift": frac - ft.frac,
            "os": int(ft.signed), "round": ROUND_CODE[ft.rounding], "ovf": OVF_CODE[ft.overflow],
            "lanes": lanes,
        })
    comment = f"{node.name}: route" + (f" from {node.source}" if node.source else "")
    return render("route.v.j2", module=module, comment=comment, ins=in_ctx, outs=out_ctx)


def _beat_addrs(counter: str, channels: int, beat: int) -> list[str]:
    """Buffer address of each lane of the beat numbered ``counter`` (beats are powers of two:
    the address is the beat number with the lane in the low bits)."""
    ab = max(1, (channels - 1).bit_length())
    lb = beat.bit_length() - 1
    if ab <= lb:  # one beat holds the whole row
        return [str(lane) for lane in range(beat)]
    if lb == 0:
        return [f"{counter}[{ab - 1}:0]"]
    return [f"{{{counter}[{ab - lb - 1}:0], {lb}'d{lane}}}" for lane in range(beat)]
