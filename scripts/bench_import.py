"""End-to-end rate of `lifecert import-faces` on ID-card chip photos made from the fixtures.

In a scratch data folder (SQLite, or --database-url): the schema, a national admin, one
pensioner per photo, and a folder of chips (102x126, face 80 px, grey for every third) cut
from the fixture photos of at most --max-photo-bytes; then `lifecert import-faces` runs as an
operator would and its JSON summary is printed with the machine's load. Photos of one
fixture identity become different pensioners, so the later ones are (rightly) duplicate
cases: they are decoded, gated, embedded, searched and stored like the rest.

    .venv/bin/python scripts/bench_import.py --photos 200 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "faces"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--max-photo-bytes", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--chips", type=Path, default=None, help="reuse the chips of a run")
    args = parser.parse_args()

    from sqlmodel import Session, SQLModel

    from app import national_id
    from app.config import Settings
    from app.db import make_engine
    from biometrics import DecodeLimits, DlibFaceEngine, QualityPolicy, decode_image
    from biometrics.bench import list_photos
    from biometrics.engine import analyze_image
    from biometrics.idcard import make_id_chip
    from models.pensioner import BenefitType, Pensioner, Residence, Sex
    from models.region import Region
    from models.staff import StaffUser

    root = Path(tempfile.mkdtemp(prefix="lifecert-import-bench-"))
    env = {
        **os.environ,
        "LIFECERT_DATA_DIR": str(root / "var"),
        "LIFECERT_DATABASE_URL": args.database_url or f"sqlite:///{root / 'bench.db'}",
    }
    for key in ("LIFECERT_DATA_DIR", "LIFECERT_DATABASE_URL"):
        os.environ[key] = env[key]
    settings = Settings()
    settings.ensure_dirs()
    engine = make_engine(settings)
    SQLModel.metadata.create_all(engine)
    chips = root / "chips"
    chips.mkdir()
    face_engine, limits = DlibFaceEngine(), DecodeLimits()
    born = date(1950, 1, 1)
    made = 0

    def pensioner(nid: str, n: int) -> Pensioner:
        return Pensioner(
            national_id=nid,
            name=f"测试{n}",
            date_of_birth=born,
            sex=Sex(national_id.sex(nid)),
            phone="13800138000",
            region_code="110105",
            residence=Residence.local,
            benefit_type=BenefitType.pension,
            monthly_amount_fen=350000,
        )

    with Session(engine) as session:
        session.add(Region(code="110105", name="北京市朝阳区"))
        session.add(
            StaffUser(username="bench", password_hash="x", roles=["admin"], region_scope="")
        )
        session.commit()
        reused = sorted(args.chips.glob("*.jpg")) if args.chips else []
        for n, path in enumerate(reused[: args.photos], start=1):
            (chips / path.name).write_bytes(path.read_bytes())
            session.add(pensioner(path.stem, n))
            made = n
        for _, path in [] if reused else list_photos(FIXTURES):
            if made >= args.photos:
                break
            if path.stat().st_size > args.max_photo_bytes:
                continue
            image = decode_image(path.read_bytes(), limits=limits)
            found = analyze_image(image, engine=face_engine, policy=QualityPolicy.selfie())
            if found.quality.main_face is None:
                continue
            made += 1
            nid = national_id.make("110105", born, made)
            session.add(pensioner(nid, made))
            chip = make_id_chip(
                image.pixels, box=found.quality.main_face.box, face_px=80.0, grey=made % 3 == 0
            )
            (chips / f"{nid}.jpg").write_bytes(chip)
        session.commit()
    command = [
        str(Path(sys.executable).parent / "lifecert"),
        "import-faces",
        str(chips),
        "--as",
        "bench",
        "--workers",
        str(args.workers),
        "--quiet",
    ]
    load_before = os.getloadavg()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(done.stdout, done.stderr)
        raise SystemExit(done.returncode)
    summary = json.loads(done.stdout)
    cpu = summary["analysis_cpu_ms_per_photo"] / 1000 + summary["parent_cpu_seconds"] / max(
        summary["photos"], 1
    )
    summary.update(
        {
            "cpus": os.cpu_count(),
            "load_before": load_before,
            "load_after": os.getloadavg(),
            "end_to_end_cpu_ms_per_photo": round(1000 * cpu, 1),
            "photos_per_second_per_core_by_cpu": round(1 / cpu, 2),
            "photos_per_second_per_core_wall": round(
                summary["photos_per_second"] / (args.workers or os.cpu_count() or 1), 2
            ),
        }
    )
    print(json.dumps(summary, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
