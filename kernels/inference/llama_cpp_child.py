"""The llama.cpp peer's own process: a JSON-lines server around one llama-cpp-python context.

Run as a script (`python -I llama_cpp_child.py`), never imported by the suite's process: it imports
nothing from `kernels` (whose import sets Numba and OpenMP settings for the suite's own kernels), only
the standard library, NumPy and llama_cpp, so llama.cpp runs with its own defaults in the environment
the parent hands it (kernels/inference/llama_cpp_peer.py strips the suite's thread settings).

One request per line on stdin, one reply per line on stdout:
  {"op": "environ"}                                   -> {"environ": {...}}  (this process's os.environ)
  {"op": "probe"}                                     -> {"ok": bool, "reason": str, "version": str}
  {"op": "load", "path", "n_ctx", "threads", "repack"} -> {"vocab": int}  (repack false: no extra buffers)
  {"op": "prefill", "tokens": [...]}                  -> {"seconds": s, "argmax": id}   (from position 0)
  {"op": "decode", "token": id, "position": p}        -> {"seconds": s, "argmax": id}
  {"op": "logits"}                                    -> {"logits_f32_b64": str}  (last evaluated position)
  {"op": "greedy", "prompt", "max_new", "stop_ids"}   -> {"tokens": [...]}
  {"op": "quit"}
`seconds` is this process's own clock around llama.cpp's evaluation: no pipe or JSON time in the figure.
Errors come back as {"error": "..."}; the server keeps serving.
"""

import base64
import json
import os
import sys
import time


class Server:
    def __init__(self):
        self.llm = None
        self.logits = None

    def environ(self, _):
        return {"environ": dict(os.environ)}

    def probe(self, _):
        try:
            import llama_cpp
        except Exception as exc:
            return {"ok": False, "reason": f"llama_cpp does not import ({type(exc).__name__}: {exc})", "version": ""}
        return {"ok": True, "reason": "", "version": str(getattr(llama_cpp, "__version__", "?"))}

    def load(self, req):
        import llama_cpp.llama_cpp as api
        from llama_cpp import Llama

        if not req.get("repack", True):  # llama.cpp's weight repacking (AMX, ...) off: not a Llama() argument
            defaults = api.llama_model_default_params

            def without_repacking():
                params = defaults()
                params.use_extra_bufts = False
                return params

            api.llama_model_default_params = without_repacking
        threads = int(req["threads"])
        self.llm = Llama(model_path=req["path"], n_ctx=int(req["n_ctx"]), n_threads=threads,
                         n_threads_batch=threads, n_batch=min(int(req["n_ctx"]), 512), logits_all=False,
                         verbose=False)
        return {"vocab": self.llm.n_vocab()}

    def _eval(self, tokens):
        import llama_cpp
        import numpy as np

        t0 = time.perf_counter()
        self.llm.eval(tokens)
        seconds = time.perf_counter() - t0
        ptr = llama_cpp.llama_get_logits_ith(self.llm.ctx, -1)
        self.logits = np.ctypeslib.as_array(ptr, shape=(self.llm.n_vocab(),)).astype(np.float32)
        return {"seconds": seconds, "argmax": int(self.logits.argmax())}

    def prefill(self, req):
        self.llm.reset()
        return self._eval([int(t) for t in req["tokens"]])

    def decode(self, req):
        self.llm.n_tokens = int(req["position"])  # drop what is cached after it: repeatable for timing
        return self._eval([int(req["token"])])

    def logits_(self, _):
        if self.logits is None:
            return {"error": "no position evaluated yet"}
        return {"logits_f32_b64": base64.b64encode(self.logits.tobytes()).decode("ascii")}

    def greedy(self, req):
        stop = {int(s) for s in req.get("stop_ids", ())}
        out = []
        reply = self.prefill({"tokens": req["prompt"]})
        for _ in range(int(req["max_new"])):
            nxt = reply["argmax"]
            out.append(nxt)
            if nxt in stop:
                break
            reply = self.decode({"token": nxt, "position": self.llm.n_tokens})
        return {"tokens": out}


def serve(stdin=sys.stdin, stdout=sys.stdout) -> None:
    server = Server()
    ops = {"environ": server.environ, "probe": server.probe, "load": server.load, "prefill": server.prefill,
           "decode": server.decode, "logits": server.logits_, "greedy": server.greedy}
    for line in stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            if req.get("op") == "quit":
                break
            handler = ops.get(req.get("op"))
            reply = handler(req) if handler else {"error": f"unknown op {req.get('op')!r}"}
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        stdout.write(json.dumps(reply) + "\n")
        stdout.flush()


if __name__ == "__main__":
    serve()
