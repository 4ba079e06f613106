"""Benchmark: where the first epoch's extra time goes, in one process, call by call.

    python docs/bench_first_call.py              # the report's run (all 60,000 images), the compile cache as it is
    python docs/bench_first_call.py --rounds 3   # 3 processes, one after the other
    VAE_TF_CACHE=off python docs/bench_first_call.py   # nothing loaded from the cache: every program compiled

Builds the report's model and its fast-path dataset (`vae_tf.training.engine`), then, in each round (its own
process, so that nothing is traced already): traces the call loop (`get_concrete_function`, no
step run), runs the epoch's first call (78 batches: XLA compiles the program or loads it from
the cache, then runs it), the next calls of the epoch, and its last call (the smaller last batch:
a second program). Prints each part in seconds. The program loading (or compiling) is what a call
takes beyond a later call of the same shape. See docs/speed.md, "The compilation cache".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def one_round() -> dict:
    """Trace, first call, later calls and the last call of the first epoch, in this process."""
    from vae_tf.config import TrainConfig
    from vae_tf.data import sources as datasets
    from vae_tf.training import engine
    from vae_tf.training.engine import CALL_BATCHES, CALL_LAST

    data = datasets.load_data("fashion_mnist")
    x = data.x_train.reshape(len(data.x_train), -1)
    config = TrainConfig()
    vae = engine.build_vae(config, len(x), None, data.spec.image_shape)
    dataset = engine.fit_inputs(x, config, 0, None)["x"]
    function = vae.make_train_function()
    spec = dataset.element_spec

    class Feed:  # what `fit` hands the train function: something with an element_spec and a next
        element_spec = spec

        def __init__(self, element):
            self.element = element

        def __next__(self):
            return self.element

    def call(element) -> float:
        start = time.perf_counter()
        logs = function(Feed(element))
        for value in logs.values():
            value.numpy()
        return time.perf_counter() - start

    elements = []
    for element in dataset:  # the first epoch's calls: its last one holds the smaller last batch
        elements.append(element)
        if element[CALL_LAST].shape[0]:
            break
    empty = {CALL_BATCHES: elements[0][CALL_BATCHES][:0], CALL_LAST: elements[0][CALL_LAST][:0]}
    function(Feed(empty))  # creates the compiled loop without running a step
    start = time.perf_counter()
    function.compiled["batches"].get_concrete_function()
    trace = time.perf_counter() - start
    first = call(elements[0])
    middle = [call(element) for element in elements[1:-1]]
    last = call(elements[-1])
    return {"trace": trace, "first_call": first, "later_calls": middle, "last_call": last}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="processes, one after the other (default 2)")
    parser.add_argument("--round", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.round:
        print(json.dumps(one_round()))
        return 0
    for index in range(args.rounds):
        output = subprocess.run([sys.executable, __file__, "--round"], capture_output=True, text=True, check=True)
        r = json.loads(output.stdout.strip().splitlines()[-1])
        later = sorted(r["later_calls"])[len(r["later_calls"]) // 2]
        print(f"round {index + 1}: trace {r['trace']:.3f} s; first call {r['first_call']:.3f} s (a later call of "
              f"its shape {later:.3f} s: {r['first_call'] - later:.3f} s to compile or load its program); "
              f"the last batch's call {r['last_call']:.3f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
