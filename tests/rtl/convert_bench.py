"""cocotb bench (used by test_convert.py): every l2h_convert instance of the wrapper against
llm2hls.numerics.convert, on random and edge-case inputs."""

import json
import os
import random

import cocotb
import numpy as np
from cocotb.triggers import Timer

from llm2hls.ir.types import FixedType
from llm2hls.numerics import convert


@cocotb.test()
async def convert_matches_numerics(dut):
    configs = json.loads(os.environ["L2H_CONVERT_CONFIGS"])
    in_w = max(c["iw"] for c in configs)
    rng = random.Random(7)
    values = [rng.getrandbits(in_w) for _ in range(400)]
    values += [0, 1, (1 << in_w) - 1, 1 << (in_w - 1), (1 << (in_w - 1)) - 1]
    values += [v << s for v in (1, 3, 5) for s in range(8)]  # exact ties for small shifts
    bad = []
    for v in values:
        dut.din.value = v & ((1 << in_w) - 1)
        await Timer(1, unit="ns")
        for i, c in enumerate(configs):
            raw = v & ((1 << c["iw"]) - 1)
            if c["is"] and raw >> (c["iw"] - 1):
                raw -= 1 << c["iw"]
            t = FixedType(c["ow"], 0, bool(c["os"]), c["round"], c["ovf"])
            want = int(convert(np.int64(raw), c["shift"], t))
            got = int(getattr(dut, f"dout{i}").value.to_unsigned())
            if c["os"] and got >> (c["ow"] - 1):
                got -= 1 << c["ow"]
            if got != want:
                bad.append((c, raw, got, want))
    assert not bad, f"{len(bad)} mismatches, first: {bad[0]}"
