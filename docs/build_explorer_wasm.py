"""Assemble the explorer's WebAssembly kernel (vae_tf/plots/explorer/conv.wat) into explorer.js.

    npm install --prefix /tmp/wabt wabt@1.0.37     # once: the WebAssembly Binary Toolkit, as an npm package
    python docs/build_explorer_wasm.py --node-modules /tmp/wabt/node_modules

Writes the module's bytes, base64, into the `const CONV_WASM = "...";` line of
vae_tf/plots/explorer/explorer.js. Only needed after changing conv.wat; the page and its tests use the
bytes committed in explorer.js (tests/test_explore.py checks the decodes they give against Keras).
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

EXPLORER = Path(__file__).resolve().parents[1] / "vae_tf" / "plots" / "explorer"
ASSEMBLE = """
const fs = require("fs");
require("wabt")().then((wabt) => {
  const module = wabt.parseWat("conv.wat", fs.readFileSync(process.argv[1], "utf8"), { simd: true });
  module.validate();
  fs.writeFileSync(process.argv[2], Buffer.from(module.toBinary({}).buffer));
});
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node-modules", required=True, help="a node_modules directory holding the wabt package")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        binary = Path(directory) / "conv.wasm"
        subprocess.run(["node", "-e", ASSEMBLE, str(EXPLORER / "conv.wat"), str(binary)], check=True,
                       env={**os.environ, "NODE_PATH": args.node_modules})
        code = base64.b64encode(binary.read_bytes()).decode()
    script = EXPLORER / "explorer.js"
    text, count = re.subn(r'const CONV_WASM = "[^"]*";', f'const CONV_WASM = "{code}";', script.read_text())
    if count != 1:
        print(f"error: {script} has {count} `const CONV_WASM = \"...\";` lines; expected one", file=sys.stderr)
        return 1
    script.write_text(text)
    print(f"wrote {len(base64.b64decode(code))} bytes of WebAssembly into {script}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
