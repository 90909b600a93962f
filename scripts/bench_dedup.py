"""1:N duplicate search at register scale: index recall and speed, whole-register dedup time.

Templates: the real dlib embeddings of the face fixtures (embedded once, cached in
--cache), and synthetic ones drawn to match them. How: each fixture identity's photos give
a centroid and within-person offsets; synthetic people are centroids drawn from a normal
distribution with the real centroids' mean and covariance (Ledoit-Wolf shrunk: 107 people
do not fill 128 dimensions), plus one within-person offset drawn from the real offsets'
covariance, then scaled by one factor so the median distance between synthetic strangers
equals the real one (both distance distributions' quantiles are printed). Planted
duplicates: for every fixture identity with two photos or more, photo 1 and photo 2 are
added as two different pensioners; the dedup must report each such pair.

For each library (hnswlib, usearch, faiss HNSW) at each size: build time, recall of the
exact 10 nearest neighbours (brute force over --queries sample queries), time per query
(one query at a time, one thread), and resident memory added. Then with --dedup, the whole
kNN graph of the register with the chosen library (all cores), timed and extrapolated to
10M (HNSW search grows with log N; the extrapolation is linear in N times log N / log 1M),
and the planted pairs found under the duplicate threshold.

    .venv/bin/python scripts/bench_dedup.py --sizes 100000 --libraries hnswlib,usearch,faiss
    .venv/bin/python scripts/bench_dedup.py --sizes 1000000 --libraries hnswlib --dedup
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.faces.index import DEFAULT_PARAMETERS, build_index, knn_graph  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "faces"


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fixture_embeddings(cache: Path, *, max_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    if cache.exists():
        data = np.load(cache)
        return data["vectors"], data["identities"]
    from biometrics import DecodeLimits, DlibFaceEngine, QualityPolicy, analyze_photo
    from biometrics.bench import list_photos

    engine, limits = DlibFaceEngine(), DecodeLimits()
    vectors, identities = [], []
    for identity, path in list_photos(FIXTURES):
        if path.stat().st_size > max_bytes:
            continue  # multi-megapixel press photos: slow to decode, and the faces are few
        analysis = analyze_photo(
            path.read_bytes(), engine=engine, limits=limits, policy=QualityPolicy.selfie()
        )
        if analysis.embedding is not None:
            vectors.append(np.asarray(analysis.embedding.vector))
            identities.append(identity)
    np.savez(cache, vectors=np.stack(vectors), identities=np.array(identities))
    return np.stack(vectors), np.array(identities)


def ledoit_wolf(x: np.ndarray) -> np.ndarray:
    """Shrunk covariance (Ledoit and Wolf 2004) of the rows of x."""
    n, p = x.shape
    xc = x - x.mean(axis=0)
    s = xc.T @ xc / n
    mu = np.trace(s) / p
    d2 = float(np.sum((s - mu * np.eye(p)) ** 2))
    b2 = sum(float(np.sum((np.outer(r, r) - s) ** 2)) for r in xc) / n**2
    shrink = min(1.0, b2 / d2) if d2 > 0 else 1.0
    return np.asarray(shrink * mu * np.eye(p) + (1 - shrink) * s)


class Generator:
    def __init__(self, vectors: np.ndarray, identities: np.ndarray, seed: int = 7) -> None:
        names = sorted(set(identities.tolist()))
        centroids = np.stack([vectors[identities == n].mean(axis=0) for n in names])
        offsets = np.concatenate(
            [vectors[identities == n] - vectors[identities == n].mean(axis=0) for n in names]
        )
        self.mean = centroids.mean(axis=0)
        self.between = np.linalg.cholesky(ledoit_wolf(centroids))
        self.within = np.linalg.cholesky(ledoit_wolf(offsets) + 1e-9 * np.eye(128))
        self.rng = np.random.default_rng(seed)
        # Real strangers: one photo per identity, every pair.
        firsts = np.stack([vectors[identities == n][0] for n in names])
        self.real_impostor = pairwise(firsts)
        sample = self.draw(2000, scale=1.0)
        self.scale = float(np.median(self.real_impostor) / np.median(pairwise(sample)))
        self.rng = np.random.default_rng(seed)

    def draw(self, n: int, *, scale: float | None = None) -> np.ndarray:
        s = self.scale if scale is None else scale
        z1 = self.rng.standard_normal((n, 128)) @ self.between.T
        z2 = self.rng.standard_normal((n, 128)) @ self.within.T
        return np.asarray(self.mean + s * (z1 + z2), dtype=np.float32)


def pairwise(x: np.ndarray) -> np.ndarray:
    d = np.sqrt(np.maximum(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1), 0))
    return d[np.triu_indices(len(x), 1)]


def exact_knn(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    norms = (data.astype(np.float64) ** 2).sum(1)
    out = []
    for start in range(0, len(queries), 100):
        q = queries[start : start + 100].astype(np.float64)
        d = norms[None, :] - 2 * q @ data.T.astype(np.float64)
        out.append(np.argsort(d, axis=1)[:, :k])
    return np.concatenate(out)


def measure(
    library: str, data: np.ndarray, queries: np.ndarray, truth: np.ndarray, k: int
) -> dict[str, Any]:
    before = rss_mb()
    started = time.perf_counter()
    cpu = time.process_time()
    index = build_index(library, data, threads=os.cpu_count() or 1, **DEFAULT_PARAMETERS[library])
    build_s = time.perf_counter() - started
    build_cpu = time.process_time() - cpu
    memory = rss_mb() - before
    times, hits = [], 0
    for i, q in enumerate(queries):
        t = time.perf_counter()
        labels, _ = index.search(q[None, :], k, threads=1)
        times.append(time.perf_counter() - t)
        hits += len(set(labels[0].tolist()) & set(truth[i].tolist()))
    return {
        "library": library,
        "n": len(data),
        "build_s": round(build_s, 1),
        "build_cpu_s": round(build_cpu, 1),
        "recall_at_10": round(hits / (k * len(queries)), 4),
        "query_ms_p50": round(1000 * float(np.median(times)), 3),
        "query_ms_p95": round(1000 * float(np.quantile(times, 0.95)), 3),
        "index_memory_mb": round(memory, 1),
        "parameters": DEFAULT_PARAMETERS[library],
        "_index": index,
    }


def calibrate(vectors: np.ndarray, identities: np.ndarray) -> dict[str, Any]:
    """Genuine and impostor distance distributions of every pair of fixture photos, and how
    each candidate duplicate threshold splits them (East-Asian impostors counted apart: the
    register's people are, and dlib puts them closer together)."""
    d = np.sqrt(np.maximum(((vectors[:, None, :] - vectors[None, :, :]) ** 2).sum(-1), 0))
    i, j = np.triu_indices(len(vectors), 1)
    same = identities[i] == identities[j]
    east = np.array([x.startswith("ea_") for x in identities])
    genuine, impostor = d[i, j][same], d[i, j][~same]
    impostor_ea = d[i, j][~same & east[i] & east[j]]
    out: dict[str, Any] = {
        "genuine_pairs": int(genuine.size),
        "impostor_pairs": int(impostor.size),
        "impostor_pairs_east_asian": int(impostor_ea.size),
        "genuine_quantiles_10_50_90": [
            round(float(np.quantile(genuine, q)), 3) for q in (0.1, 0.5, 0.9)
        ],
        "impostor_min": round(float(impostor.min()), 3),
        "impostor_ea_min": round(float(impostor_ea.min()), 3),
        "impostor_quantiles_1e-4_1e-3_1e-2": [
            round(float(np.quantile(impostor, q)), 3) for q in (1e-4, 1e-3, 1e-2)
        ],
        "by_threshold": {},
    }
    for t in (0.25, 0.3, 0.33, 0.35, 0.38, 0.4, 0.45):
        out["by_threshold"][str(t)] = {
            "genuine_below": round(float((genuine < t).mean()), 4),
            "impostor_below": round(float((impostor < t).mean()), 6),
            "impostor_ea_below": round(float((impostor_ea < t).mean()), 6),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--libraries", default="hnswlib,usearch,faiss")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--dedup", action="store_true", help="time the whole kNN graph too")
    parser.add_argument("--threshold", type=float, default=None, help="duplicate distance")
    parser.add_argument("--calibrate-only", action="store_true", help="only the distances")
    parser.add_argument(
        "--max-photo-bytes", type=int, default=1_000_000, help="skip larger fixture photos"
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/lifecert-fixture-embeddings.npz"))
    args = parser.parse_args()
    from app.config import Settings

    threshold = args.threshold or Settings().face_duplicate_case_distance
    vectors, identities = fixture_embeddings(args.cache, max_bytes=args.max_photo_bytes)
    gen = Generator(vectors, identities)
    synthetic_check = pairwise(gen.draw(2000))
    qs = [0.001, 0.01, 0.1, 0.5]
    report: dict[str, Any] = {
        "fixture_photos": len(vectors),
        "fixture_identities": len(set(identities.tolist())),
        "synthetic_scale": round(gen.scale, 4),
        "impostor_distance_quantiles": {
            "real": [round(float(np.quantile(gen.real_impostor, q)), 3) for q in qs],
            "synthetic": [round(float(np.quantile(synthetic_check, q)), 3) for q in qs],
            "q": qs,
        },
        "duplicate_threshold": threshold,
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
        "runs": [],
    }
    report["distance_calibration"] = calibrate(vectors, identities)
    print(json.dumps(report["distance_calibration"]), flush=True)
    if args.calibrate_only:
        return
    names = sorted(set(identities.tolist()))
    planted = [
        (vectors[identities == n][0], vectors[identities == n][1])
        for n in names
        if (identities == n).sum() >= 2
    ]
    for size in [int(s) for s in args.sizes.split(",")]:
        data = gen.draw(size - 2 * len(planted))
        plant_rows = []
        extra = []
        for a, b in planted:
            plant_rows.append((len(data) + len(extra), len(data) + len(extra) + 1))
            extra.extend([a, b])
        data = np.concatenate([data, np.asarray(extra, dtype=np.float32)])
        rng = np.random.default_rng(size)
        queries = data[rng.choice(len(data), args.queries, replace=False)]
        truth = exact_knn(data, queries, 10)
        for library in args.libraries.split(","):
            result = measure(library, data, queries, truth, 10)
            index = result.pop("_index")
            report["runs"].append(result)
            print(json.dumps(result), flush=True)
            if args.dedup:
                started = time.perf_counter()
                cpu = time.process_time()
                pairs = knn_graph(
                    index, data, k=10, threshold=threshold, threads=os.cpu_count() or 1
                )
                seconds = time.perf_counter() - started
                found = {(min(a, b), max(a, b)) for a, b, _ in pairs}
                hit = sum((a, b) in found for a, b in plant_rows)
                ten_m = seconds * 10 * math.log(10_000_000) / math.log(size)
                dedup = {
                    "library": library,
                    "n": size,
                    "dedup_s": round(seconds, 1),
                    "dedup_cpu_s": round(time.process_time() - cpu, 1),
                    "extrapolated_10m_s": round(ten_m),
                    "pairs_under_threshold": len(found),
                    "planted_pairs": len(plant_rows),
                    "planted_found": hit,
                    "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                    "load_after": os.getloadavg(),
                }
                report.setdefault("dedup", []).append(dedup)
                print(json.dumps(dedup), flush=True)
            del index
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
