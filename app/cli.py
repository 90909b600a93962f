"""The `lifecert` command line: serve, migrate, staff accounts, imports, audit checks, demo data."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session, select

from app.config import get_settings

cli = typer.Typer(help="lifecert: remote proof-of-life certification.", no_args_is_help=True)
audit_cli = typer.Typer(help="The audit trail.", no_args_is_help=True)
cli.add_typer(audit_cli, name="audit")
bench_cli = typer.Typer(help="Accuracy and speed benchmarks.", no_args_is_help=True)
cli.add_typer(bench_cli, name="bench")
faces_cli = typer.Typer(help="Face galleries.", no_args_is_help=True)
cli.add_typer(faces_cli, name="faces")
feeds_cli = typer.Typer(help="Agencies' feed clients and their keys.", no_args_is_help=True)
cli.add_typer(feeds_cli, name="feeds")
media_cli = typer.Typer(
    help="Stored photos, videos, frames and scans (encrypted at rest).", no_args_is_help=True
)
cli.add_typer(media_cli, name="media")

# Enrolment at scale: import-faces, faces dedup, faces index-rebuild (app/faces/commands.py).
from app.faces.commands import register as _register_face_commands  # noqa: E402

_register_face_commands(cli, faces_cli)


def _session() -> Session:
    from app.db import make_engine

    settings = get_settings()
    settings.ensure_dirs()
    return Session(make_engine(settings), expire_on_commit=False)


def _fail(error: str, detail: str, code: int = 1) -> None:
    typer.echo(json.dumps({"error": error, "detail": detail}, ensure_ascii=False), err=True)
    raise typer.Exit(code)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Serve the API and the web pages."""
    import uvicorn

    settings = get_settings()
    settings.ensure_dirs()
    base = f"http://{host}:{port}"
    creds = settings.data_dir / "demo-credentials.txt"
    typer.echo(f"\n  lifecert is starting at {base}/")
    typer.echo(f"  API documentation:      {base}/docs")
    if creds.exists():
        typer.echo(f"  Staff demo logins:      {creds} (log in at {base}/docs, 'Authorize')")
    typer.echo(f"  Pensioner login codes:  written to {settings.outbox_dir}/\n")
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        # Longer than the edge's idle keep-alive (deploy/Caddyfile, 60 s) and a phone's pause
        # between polls: uvicorn's 5 s default closed connections clients were reusing
        # (scripts/load.py saw resets on the status poll under load).
        timeout_keep_alive=75,
        log_level="info",
    )


@cli.command()
def worker(
    processes: Annotated[int, typer.Option(help="Worker processes on this machine")] = 2,
    metrics_port: Annotated[
        int, typer.Option(help="Serve the workers' Prometheus metrics on this port (0: off)")
    ] = 0,
    metrics_address: Annotated[
        str, typer.Option(help="Address for the metrics (an internal one: they are not guarded)")
    ] = "127.0.0.1",
    nice: Annotated[
        int | None,
        typer.Option(min=0, max=19, help="CPU niceness of the face work (LIFECERT_WORKER_NICE)"),
    ] = None,
) -> None:
    """Run certification jobs from the Redis queue (LIFECERT_JOB_BACKEND=redis)."""
    from app.attempts.jobs import lower_cpu_priority

    settings = get_settings()
    if nice is not None:
        # The worker processes read the settings again.
        os.environ["LIFECERT_WORKER_NICE"] = str(nice)
    # Before Dramatiq starts: its processes inherit the niceness (and the session's group).
    niceness = lower_cpu_priority(settings.worker_nice if nice is None else nice)
    typer.echo(
        f"Workers for {_redacted(settings.redis_url)} (namespace "
        f"{settings.redis_namespace}), {processes} processes at niceness {niceness}"
    )
    # Dramatiq's own launcher: supervises the processes and restarts any that die.
    command = [
        sys.executable,
        "-m",
        "dramatiq",
        "app.worker",
        "--processes",
        str(processes),
        "--threads",
        "1",
    ]
    if metrics_port:
        from app.observability.worker_metrics import run_with_metrics

        raise typer.Exit(
            run_with_metrics(
                command,
                address=metrics_address,
                port=metrics_port,
                directory=settings.data_dir / "worker-metrics",
            )
        )
    os.execvp(sys.executable, command)


@cli.command()
def migrate(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply database migrations (to the newest by default)."""
    from app.migrate import upgrade

    settings = get_settings()
    settings.ensure_dirs()
    upgrade(settings.resolved_database_url, revision)
    if revision == "head":
        # A chain written before it was keyed gets a keyed head at once (audit.seal).
        from app.audit.service import seal

        with _session() as session:
            sealed = seal(session=session)
            session.commit()
        if sealed is not None:
            typer.echo(f"Audit chain keyed from event {sealed.seq} on.")
    typer.echo(f"Database at {revision}: {_redacted(settings.resolved_database_url)}")


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@cli.command("create-staff")
def create_staff(
    username: str,
    roles: Annotated[str, typer.Option(help="Comma-separated: admin,reviewer,video_agent,...")],
    region_scope: Annotated[str, typer.Option(help="Region code prefix; empty = national")] = "",
    full_name: Annotated[str, typer.Option()] = "",
    password: Annotated[
        str | None, typer.Option(help="Read from LIFECERT_NEW_PASSWORD or prompted if omitted")
    ] = None,
) -> None:
    """Create a staff account."""
    from pydantic import ValidationError

    from app.audit.service import SYSTEM
    from app.errors import AppError
    from app.staff import service
    from app.staff.schemas import StaffCreate

    password = (
        password
        or os.environ.get("LIFECERT_NEW_PASSWORD")
        or typer.prompt("Password (12+ characters)", hide_input=True, confirmation_prompt=True)
    )
    try:
        data = StaffCreate(
            username=username,
            password=password,
            roles=[r.strip() for r in roles.split(",") if r.strip()],
            region_scope=region_scope,
            full_name=full_name,
        )
    except ValidationError as exc:
        _fail(
            "ValidationError",
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()),
            2,
        )
        return
    with _session() as session:
        try:
            staff = service.create(
                session=session,
                actor=SYSTEM,
                username=data.username,
                password=data.password,
                roles=[r.value for r in data.roles],
                region_scope=data.region_scope,
                full_name=data.full_name,
            )
            session.commit()
        except AppError as exc:
            _fail(exc.code, exc.message)
            return
    typer.echo(f"Created {staff.username} ({', '.join(staff.roles)}), id {staff.id}")


@cli.command("import-pensioners")
def import_pensioners(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    as_user: Annotated[str, typer.Option("--as", help="Admin username recorded in the audit")],
    partial: Annotated[bool, typer.Option(help="Write the valid rows even if some fail")] = False,
    dry_run: Annotated[bool, typer.Option(help="Validate only")] = False,
) -> None:
    """Import pensioners from a CSV file; prints the row-by-row report as JSON."""
    from app.audit.service import Actor
    from app.errors import AppError, PermissionDenied
    from app.pensioners import service
    from models.staff import Role, StaffUser

    settings = get_settings()
    with _session() as session:
        staff = session.exec(select(StaffUser).where(StaffUser.username == as_user)).first()
        if staff is None or not staff.is_active or not staff.has_role(Role.admin):
            _fail(PermissionDenied.code, f"{as_user!r} is not an active admin account.")
            return
        try:
            report = service.import_csv(
                session=session,
                staff=staff,
                actor=Actor("staff", str(staff.id), "cli"),
                content=file.read_bytes(),
                all_or_nothing=not partial,
                dry_run=dry_run,
                max_rows=settings.max_import_rows,
            )
            session.commit()
        except AppError as exc:
            typer.echo(
                json.dumps(
                    {"error": exc.code, "detail": exc.message, **exc.extra},
                    ensure_ascii=False,
                    indent=2,
                ),
                err=True,
            )
            raise typer.Exit(1) from None
    typer.echo(report.model_dump_json(indent=2))


@audit_cli.command("verify")
def audit_verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    head_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--head",
            help="A head saved by `lifecert audit export-head` (or a backup's manifest.json): "
            "check the chain still holds it. May be given several times.",
        ),
    ] = None,
) -> None:
    """Check the audit chain with the audit key; exits 1 if any event was edited, deleted or
    re-hashed without the key, or an exported head is no longer in the chain."""
    from app.audit.service import read_head, verify_chain

    heads = []
    for path in head_files or []:
        try:
            heads.append(read_head(json.loads(path.read_text())))
        except OSError as exc:
            _fail("HeadUnreadable", f"{path}: {exc.strerror or exc}", code=2)
        except ValueError as exc:  # JSONDecodeError is a ValueError
            _fail("HeadInvalid", f"{path}: {exc}", code=2)
    with _session() as session:
        report = verify_chain(session=session, heads=heads)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "events": report.events,
                    "unkeyed_events": report.unkeyed,
                    "head": report.head,
                    "heads_checked": len(heads),
                    "problems": report.problems,
                },
                indent=2,
            )
        )
    elif report.ok:
        unkeyed = f" ({report.unkeyed} from before it was keyed)" if report.unkeyed else ""
        anchored = f"; {len(heads)} exported heads present" if heads else ""
        typer.echo(f"Audit chain intact: {report.events} events{unkeyed}{anchored}.")
    else:
        typer.echo(
            f"Audit chain BROKEN: {len(report.problems)} problems in {report.events} events."
        )
        for p in report.problems:
            typer.echo(f"  event {p['seq']}: {p['problem']}: {p['detail']}")
    raise typer.Exit(0 if report.ok else 1)


@audit_cli.command("export-head")
def audit_export_head() -> None:
    """Print the chain's head as JSON (seq, hash, hash_scheme, occurred_at, events), to keep
    outside the service (another system, a signed log, paper); `lifecert audit verify --head
    FILE` later checks the chain still holds it. An unkeyed head is sealed first."""
    from app.audit.service import export_head

    with _session() as session:
        head = export_head(session=session)
    typer.echo(json.dumps(head, indent=2))


@audit_cli.command("generate-key")
def audit_generate_key() -> None:
    """Print a new random key for LIFECERT_AUDIT_KEY."""
    import secrets

    typer.echo(secrets.token_urlsafe(48))


@cli.command()
def demo(
    if_empty: Annotated[bool, typer.Option(help="Do nothing if staff accounts exist")] = False,
) -> None:
    """Load demo regions, pensioners and one staff account per role (passwords printed)."""
    from app import demo as demo_data

    settings = get_settings()
    creds = settings.data_dir / "demo-credentials.txt"
    with _session() as session:
        if if_empty and demo_data.has_data(session):
            if creds.exists():
                typer.echo(f"Demo data present; staff logins are in {creds}")
            return
        logins = demo_data.load(session)
        session.commit()
    if not logins:
        typer.echo("Demo data already loaded.")
        return
    lines = [f"{'username':<10} {'password':<18} {'roles':<18} region scope"]
    lines += [f"{x.username:<10} {x.password:<18} {x.roles:<18} {x.region_scope}" for x in logins]
    creds.parent.mkdir(parents=True, exist_ok=True)
    creds.touch(mode=0o600)
    creds.write_text("\n".join(lines) + "\n", encoding="utf-8")
    typer.echo("Demo data loaded. Staff logins (also saved in " + str(creds) + "):")
    typer.echo("\n".join("  " + line for line in lines))
    typer.echo(f"Pensioners log in with their ID number; the code goes to {settings.outbox_dir}/")


@cli.command()
def verify(
    enrolled: Annotated[Path, typer.Argument(help="The photo on file")],
    selfie: Annotated[Path, typer.Argument(help="The new photo to check")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    cohort: Annotated[
        Path | None,
        typer.Option(
            help="Folder of photos of other people to normalise scores against; "
            "default: the faces enrolled in the database. Photos in one sub-folder are one "
            "person; the decision bars are calibrated on the folder's own impostor pairs"
        ),
    ] = None,
    target_fmr: Annotated[
        float | None,
        typer.Option(help="With --cohort: false-match rate to calibrate for (default: setting)"),
    ] = None,
) -> None:
    """Decide whether two photos show the same person: match, review or no_match."""
    import numpy as np

    from app.errors import AppError
    from app.faces import gallery, service
    from biometrics import DlibFaceEngine, ImageError, Thresholds, read_limited

    settings = get_settings()
    if target_fmr is not None:
        if not 0.0 < target_fmr < 0.5:
            _fail("InvalidTarget", f"--target-fmr must be between 0 and 0.5, got {target_fmr}", 2)
        settings = settings.model_copy(update={"face_target_fmr": target_fmr})
    engine = DlibFaceEngine()
    try:
        data = []
        for path in (enrolled, selfie):
            if not path.is_file():
                _fail("FileNotFound", f"{path}: no such file")
            with path.open("rb") as stream:
                data.append(read_limited(stream, max_bytes=settings.max_photo_bytes))
        if cohort is not None:
            matrix, owners = service.embed_folder(cohort, engine=engine, settings=settings)
            thresholds = service.thresholds_from_folder(matrix, owners=owners, settings=settings)
            source = str(cohort)
        else:
            matrix, source = np.zeros((0, 128)), "database"
            thresholds = Thresholds(match=None, no_match=None, reasons=("no_calibration",))
            with _session() as session:
                if _has_faces_table(session):
                    matrix = gallery.cohort_matrix(
                        session=session,
                        exclude=uuid.UUID(int=0),
                        model_name=engine.model_name,
                        model_version=engine.model_version,
                        limit=settings.face_cohort_max,
                    )
                    thresholds = service.overall_thresholds(
                        session=session,
                        settings=settings,
                        model_name=engine.model_name,
                        model_version=engine.model_version,
                    )
        result = service.compare_photos(
            enrolled=data[0],
            selfie=data[1],
            engine=engine,
            settings=settings,
            cohort=matrix,
            thresholds=thresholds,
        )
    except ImageError as exc:
        _fail(type(exc).__name__, f"{exc.message}")
        return
    except AppError as exc:
        typer.echo(
            json.dumps({"error": exc.code, "detail": exc.message, **exc.extra}, ensure_ascii=False),
            err=True,
        )
        raise typer.Exit(1) from None
    result["cohort_source"] = source
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    typer.echo(
        f"decision: {result['decision']}  (distance {result['distance']}, "
        f"score {result['score']}, cohort {result['cohort_size']} from {source})"
    )
    for label in ("enrolled", "selfie"):
        report = result[label]
        assert isinstance(report, dict)
        for f in report["findings"]:
            typer.echo(f"  {label}: {f['issue']}: {f['en']}")
    for reason in result["reasons"]:  # type: ignore[attr-defined]
        typer.echo(f"  note: {reason}")


def _has_faces_table(session: Session) -> bool:
    import sqlalchemy as sa

    return sa.inspect(session.get_bind()).has_table("enrolled_face")


@bench_cli.command("faces")
def bench_faces(
    root: Annotated[
        Path, typer.Argument(exists=True, file_okay=False, help="DIR/<identity>/<photos>")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    plot: Annotated[Path | None, typer.Option(help="Write the DET curve to this PNG")] = None,
    naive_sample: Annotated[int, typer.Option(help="Photos timed the naive way")] = 3,
    attempt: Annotated[
        int,
        typer.Option(
            min=1, max=10, help="Photos per attempt (a selfie and its frames), fused into one score"
        ),
    ] = 1,
    target_fmr: Annotated[
        float | None, typer.Option(help="False-match rate to calibrate for (default: setting)")
    ] = None,
    second_pass_jitters: Annotated[
        int,
        typer.Option(
            min=0,
            max=100,
            help="With --attempt: embed the probes of attempts just below the bar again with "
            "this many jitters, as production does (0: only report how many would be)",
        ),
    ] = 0,
) -> None:
    """Every genuine and impostor pair in DIR: error rates per group, speed against naive use.

    Thresholds are calibrated on one half of DIR's identities and used on the other half,
    then the halves swap, as production calibrates on its own register.
    """
    from app.faces.gallery import match_policy
    from biometrics import DlibFaceEngine
    from biometrics.bench import MissingBenchExtra, plot_det, require_plotting, run_face_bench

    settings = get_settings()
    target = settings.face_target_fmr if target_fmr is None else target_fmr
    if not 0.0 < target < 1.0:
        _fail("InvalidTarget", f"--target-fmr must be between 0 and 1, got {target}", 2)
    if plot is not None:
        try:
            require_plotting()
        except MissingBenchExtra as exc:
            _fail("MissingDependency", str(exc), 2)
    result = run_face_bench(
        root,
        engine=DlibFaceEngine(),
        match=match_policy(settings),
        naive_sample=naive_sample,
        attempt=attempt,
        target_fmr=target,
        second_pass_jitters=second_pass_jitters,
        second_pass_margin=settings.face_second_pass_margin,
        no_match_quantile=settings.face_no_match_quantile,
    )
    if plot is not None:
        plot_det(result, plot)
    printable = {k: v for k, v in result.items() if k != "det"}
    if as_json:
        typer.echo(json.dumps(printable, indent=2))
        return
    typer.echo(
        f"{result['images']} photos of {result['identities']} people, "
        f"{result['failures_to_enrol']} failed to enrol"
    )
    typer.echo(
        f"{result['genuine_pairs']} genuine pairs: {1 - result['fnmr_accept']:.1%} "
        f"match, {result['review_rate_genuine']:.1%} review, "
        f"{result['reject_rate_genuine']:.1%} rejected"
    )
    typer.echo(
        f"{result['impostor_pairs']} impostor pairs: {result['fmr_accept']:.3%} "
        f"accepted, {result['fmr_review']:.3%} reach review; EER {result['eer']}"
    )
    for group, rates in result["groups"].items():
        typer.echo(f"  {group}: FMR {rates['fmr_accept']}, not matched {rates['fnmr_accept']}")
    typer.echo(
        f"per photo: p50 {result['per_image_ms_p50']} ms, p95 "
        f"{result['per_image_ms_p95']} ms; naive p50 "
        f"{result.get('naive_per_image_ms_p50')} ms; speed-up "
        f"{result.get('speedup_vs_naive')}x; max RSS {result['max_rss_mb']} MB"
    )


@cli.command()
def liveness(
    video: Annotated[Path, typer.Argument(help="MP4/MOV/WebM clip")],
    challenge: Annotated[str, typer.Option(help="Actions in order, e.g. blink,turn_left")],
    mirrored: Annotated[bool, typer.Option(help="The clip is the mirrored preview")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Judge a liveness clip against a challenge: live or not, with actions and reasons."""
    from app.attempts.processing import video_limits
    from app.attempts.service import ACTIONS
    from biometrics import DlibFaceEngine
    from biometrics.errors import VideoError
    from biometrics.liveness import LivenessPolicy, analyze_liveness

    actions = [a.strip() for a in challenge.split(",") if a.strip()]
    unknown = [a for a in actions if a not in ACTIONS]
    if not actions or unknown:
        _fail("InvalidChallenge", f"unknown actions {unknown}; use {', '.join(ACTIONS)}", 2)
    if not video.is_file():
        _fail("FileNotFound", f"{video}: no such file")
    try:
        result = analyze_liveness(
            video.read_bytes(),
            challenge=actions,
            mirrored=mirrored,
            engine=DlibFaceEngine(),
            limits=video_limits(get_settings()),
            policy=LivenessPolicy(),
        )
    except VideoError as exc:
        _fail(type(exc).__name__, exc.message)
        return
    report = {
        "live": result.live,
        "score": round(result.score, 3),
        "actions": result.actions_as_dicts(),
        "reasons": [r.value for r in result.reasons],
        "frames_analyzed": result.frames_analyzed,
        "ms": round(result.ms),
        "checks": {
            name: {"value": round(c.value, 4), "threshold": c.threshold, "passed": c.passed}
            for name, c in result.checks.items()
        },
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    verdict = "LIVE" if result.live else "NOT LIVE"
    typer.echo(
        f"{verdict} (score {report['score']}, {result.frames_analyzed} frames, {report['ms']} ms)"
    )
    for event in report["actions"]:  # type: ignore[attr-defined]
        typer.echo(f"  {event['action']} at {event['t']} s")
    for reason in report["reasons"]:  # type: ignore[attr-defined]
        typer.echo(f"  reason: {reason}")


@bench_cli.command("liveness")
def bench_liveness(
    root: Annotated[
        Path,
        typer.Argument(
            exists=True, file_okay=False, help="Folder with labels.csv: file,label,challenge"
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    naive_seconds: Annotated[float, typer.Option(help="Seconds timed the naive way")] = 2.0,
) -> None:
    """APCER, BPCER and speed over labelled clips, against naive per-frame detection."""
    from app.attempts.processing import video_limits
    from biometrics import DlibFaceEngine
    from biometrics.liveness_bench import json_default, run_liveness_bench

    report = run_liveness_bench(
        root,
        engine=DlibFaceEngine(),
        limits=video_limits(get_settings()),
        naive_seconds=naive_seconds,
    )
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=json_default))
        return
    typer.echo(
        f"{report['files']} clips: APCER {report['apcer']}, BPCER {report['bpcer']}, "
        f"{report['video_seconds_per_cpu_second']} video s per CPU s, "
        f"{report.get('speedup_vs_naive')}x faster than naive"
    )
    for kind, rates in report["apcer_per_type"].items():
        typer.echo(
            f"  {kind}: APCER {rates['apcer']} ({rates['judged_live']}/{rates['attacks']} "
            f"judged live), {rates['passive_flagged']} caught by a passive reason"
        )
    typer.echo(
        f"  worst-case APCER {report['apcer_worst_type']}; live clips with an attack reason: "
        f"{report['live_with_attack_reason']}"
    )
    for entry in report["per_file"]:
        passive = " passive" if entry.get("passive_flag") else ""
        typer.echo(
            f"  {entry['file']}: {entry.get('decision')}{passive} {entry.get('reasons', '')}"
        )


@cli.command("gen-attacks")
def gen_attacks(
    source: Annotated[
        Path, typer.Argument(exists=True, help="A genuine clip or photo, or a folder of them")
    ],
    out: Annotated[Path, typer.Argument(file_okay=False, help="Folder for the attack clips")],
    challenge: Annotated[
        str, typer.Option(help="The challenge each clip is labelled with for the bench")
    ] = "turn_left,turn_right",
    seed: Annotated[int, typer.Option(help="Seed of the hand's motion and the noise")] = 1,
) -> None:
    """Make attack clips (bent and tilted print, phone and tablet replay, spliced clip) from
    genuine clips or photos, with OUT/labels.csv (file,label,challenge,attack_type) for
    `lifecert bench liveness`. For tests and benches only."""
    import csv

    from biometrics import attacks

    media = {".mp4", ".mov", ".webm", ".jpg", ".jpeg", ".png"}
    sources = (
        sorted(p for p in source.iterdir() if p.suffix.lower() in media)
        if source.is_dir()
        else [source]
    )
    if not sources:
        _fail("NothingToDo", f"{source}: no clip or photo found", 2)
    rows = []
    for i, path in enumerate(sources):
        try:
            made = attacks.generate(path, out, challenge=challenge, seed=seed + 10 * i)
        except (ValueError, OSError) as exc:
            _fail("UnreadableSource", f"{path}: {exc}")
            return
        rows.extend(made)
        for name, kind, _ in made:
            typer.echo(f"{kind}: {out / name}")
    labels = out / "labels.csv"
    with labels.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label", "challenge", "attack_type"])
        writer.writerows((name, "attack", wanted, kind) for name, kind, wanted in rows)
    typer.echo(f"{len(rows)} attack clips; labels in {labels}")


@cli.command("run-schedule")
def run_schedule(
    today: Annotated[str | None, typer.Option(help="Run as of this day (YYYY-MM-DD)")] = None,
) -> None:
    """The daily job: certification reminders, suspension after the grace period, deleting
    stored media past its retention period (`lifecert media retention`) and resumable uploads
    past their expiry (the API processes also do, every `LIFECERT_UPLOAD_PURGE_SECONDS`)."""
    from datetime import UTC, datetime

    from app.appointments import reminders as call_reminders
    from app.attempts import resumable
    from app.auth.senders import make_sender
    from app.certifications import schedule
    from app.media import retention

    settings = get_settings()
    try:
        day = schedule.parse_day(today)
    except ValueError:
        _fail("InvalidDate", f"{today!r} is not a date like 2026-11-29", 2)
        return
    with _session() as session:
        if settings.job_backend == "redis":
            from datetime import timedelta

            from app.attempts.jobs import RedisQueue
            from app.attempts.service import requeue_stranded

            # A message lost between the upload's commit and the queue: send it again.
            requeue_stranded(
                session=session,
                queue=RedisQueue(settings),
                older_than=timedelta(minutes=10),
                lease=timedelta(seconds=settings.job_lease_seconds),
            )
        report = schedule.run(
            session=session, settings=settings, sender=make_sender(settings), today=day
        )
        now = datetime.combine(day, datetime.now(UTC).timetz())
        media_deleted = retention.run(session=session, settings=settings, now=now)
        uploads_expired = resumable.purge_expired(session=session, settings=settings, now=now)
        calls = call_reminders.send_due(session=session, sender=make_sender(settings))
    typer.echo(
        json.dumps(
            {
                "today": str(report.today),
                "reminded_due_soon": report.reminded_due_soon,
                "reminded_overdue": report.reminded_overdue,
                "suspended": report.suspended,
                "attempts_media_deleted": media_deleted["attempts"],
                "media_deleted": media_deleted,
                "uploads_expired": uploads_expired,
                "call_reminders": calls.day_before + calls.hour_before,
            }
        )
    )


@media_cli.command("verify")
def media_verify(
    deep: Annotated[bool, typer.Option(help="Also decrypt every file (reads them all)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Files without records, records without files, files not encrypted or under an unknown
    master key, loose permissions (exit code 1 when anything is found)."""
    from dataclasses import asdict

    from app.media import inventory

    settings = get_settings()
    with _session() as session:
        report = inventory.verify(session=session, settings=settings, deep=deep)
    if as_json:
        typer.echo(json.dumps(asdict(report) | {"ok": report.ok}, indent=2))
    else:
        typer.echo(f"{report.files} files, {report.records} records point to files.")
        for label, items in (
            ("Files without a record", report.orphan_files),
            ("Records without a file", [f"{m['kind']}: {m['path']}" for m in report.missing_files]),
            ("Half-written files (.part)", report.partial_files),
            ("Not encrypted", report.not_encrypted),
            ("Under a master key not given", report.unknown_key),
            ("Failing the integrity check", report.unreadable),
            ("Permissions not 0600/0700", report.loose_permissions),
        ):
            if items:
                typer.echo(f"{label} ({len(items)}):")
                typer.echo("\n".join(f"  {item}" for item in items))
        if report.ok:
            typer.echo("Media folder and records agree.")
    raise typer.Exit(0 if report.ok else 1)


@media_cli.command("retention")
def media_retention(
    dry_run: Annotated[bool, typer.Option(help="Only count what would be deleted")] = False,
) -> None:
    """Delete stored files past their retention period, per kind (LIFECERT_MEDIA_RETENTION_DAYS,
    _CALL_FRAME_, _CONSULAR_SCAN_, _RETIRED_PHOTO_RETENTION_DAYS); what is under review stays."""
    from datetime import UTC, datetime

    from app.media import retention

    settings = get_settings()
    with _session() as session:
        counts = retention.run(
            session=session, settings=settings, now=datetime.now(UTC), dry_run=dry_run
        )
    typer.echo(json.dumps({"dry_run": dry_run, "deleted": counts}))


@media_cli.command("rotate-keys")
def media_rotate_keys() -> None:
    """Re-wrap every file's data key under the current master key (LIFECERT_MEDIA_MASTER_KEY),
    unwrapping with LIFECERT_MEDIA_OLD_MASTER_KEYS; also encrypts files stored before
    encryption. Afterwards the old keys can be dropped (exit code 1 if a file failed)."""
    from dataclasses import asdict

    from app.media import inventory

    report = inventory.rotate_keys(settings=get_settings())
    typer.echo(json.dumps(asdict(report), indent=2))
    raise typer.Exit(1 if report.failed else 0)


@media_cli.command("generate-key")
def media_generate_key() -> None:
    """Print a new random master key for LIFECERT_MEDIA_MASTER_KEY."""
    from app.config import new_media_key

    typer.echo(new_media_key())


@cli.command("call-reminders")
def send_call_reminders() -> None:
    """Video-call reminders a day and an hour before (run every few minutes, e.g. from cron);
    each is sent once, however often this runs."""
    from app.appointments.reminders import send_due
    from app.auth.senders import make_sender

    settings = get_settings()
    with _session() as session:
        report = send_due(session=session, sender=make_sender(settings))
    typer.echo(json.dumps({"day_before": report.day_before, "hour_before": report.hour_before}))


@cli.command("backup")
def backup_command(
    directory: Annotated[Path, typer.Argument(help="A new or empty folder")],
) -> None:
    """Back up the database (pg_dump, or SQLite's online backup), the stored media as they lie
    on disk (encrypted), the audit chain's head and a manifest with every table's row count.
    The master keys are not included: keep them apart."""
    from app import backup as backups

    settings = get_settings()
    try:
        manifest = backups.backup(settings=settings, directory=directory)
    except backups.BackupError as exc:
        _fail("BackupFailed", str(exc))
        return
    typer.echo(
        f"Backed up {sum(manifest.row_counts.values())} rows in {len(manifest.row_counts)} "
        f"tables, {manifest.media_files} media files and audit head {manifest.audit_head['seq']} "
        f"into {directory}"
    )
    if manifest.media_missing:
        typer.echo(f"Deleted while the backup ran: {len(manifest.media_missing)} media files")


@cli.command("restore")
def restore_command(
    directory: Annotated[Path, typer.Argument(help="A folder written by lifecert backup")],
) -> None:
    """Restore a backup into an EMPTY database and media folder (LIFECERT_DATABASE_URL,
    LIFECERT_MEDIA_DIR), then compare row counts and the audit head with the manifest."""
    from app import backup as backups

    settings = get_settings()
    try:
        report = backups.restore(settings=settings, directory=directory)
    except backups.BackupError as exc:
        _fail("RestoreRefused", str(exc))
        return
    for table, (expected, found) in sorted(report.mismatches.items()):
        typer.echo(f"  {table}: {found} rows, the manifest says {expected}", err=True)
    if report.audit_head != report.manifest.audit_head:
        typer.echo(f"  audit head {report.audit_head} is not the manifest's", err=True)
    typer.echo(
        f"Restored {sum(report.row_counts.values())} rows and {report.media_files} media files"
        + ("; row counts and audit head match the manifest." if report.ok else "; MISMATCH.")
    )
    raise typer.Exit(0 if report.ok else 1)


@faces_cli.command("refresh-cohort")
def faces_refresh_cohort() -> None:
    """Recompute every gallery's cohort statistics (run as the enrolled population grows)."""
    from app.faces.gallery import refresh_all_galleries

    settings = get_settings()
    with _session() as session:
        count = refresh_all_galleries(session=session, settings=settings)
        session.commit()
    typer.echo(f"Refreshed {count} galleries.")


@faces_cli.command("calibrate")
def faces_calibrate(
    as_user: Annotated[
        str | None, typer.Option("--as", help="National admin recorded in the audit")
    ] = None,
    target_fmr: Annotated[
        float | None,
        typer.Option(help="False-match rate to calibrate for (default LIFECERT_FACE_TARGET_FMR)"),
    ] = None,
    report: Annotated[
        bool, typer.Option("--report", help="Only measure: live rates, labels and drift")
    ] = False,
) -> None:
    """Decision thresholds from a target false-match rate, measured on the enrolled register.

    Stores a new calibration (audited, before and after) that verification uses at once; a
    register too small for the target keeps auto-accept off and says how many people are
    needed. With --report nothing is stored: the false-match rate at the current bar on
    today's register, the rates measured from reviewers' verdicts, and drift warnings
    (exit code 3 when there is a warning).
    """
    from app.audit.service import Actor
    from app.errors import AppError, PermissionDenied
    from app.faces import calibration as cal
    from app.faces.service import CohortCache
    from biometrics import DLIB_MODEL_NAME, DLIB_MODEL_VERSION
    from models.staff import Role, StaffUser

    settings = get_settings()
    target = settings.face_target_fmr if target_fmr is None else target_fmr
    if not 0.0 < target < 0.5:
        _fail("InvalidTarget", f"--target-fmr must be between 0 and 0.5, got {target}", 2)
    with _session() as session:
        cohort, owners = CohortCache().get(
            session=session,
            model_name=DLIB_MODEL_NAME,
            model_version=DLIB_MODEL_VERSION,
            limit=settings.face_cohort_max,
        )
        if report:
            result = cal.report(
                session=session,
                settings=settings,
                model_name=DLIB_MODEL_NAME,
                model_version=DLIB_MODEL_VERSION,
                cohort=cohort,
                owners=owners,
            )
            typer.echo(json.dumps(result, indent=2, ensure_ascii=False, default=str))
            if result["warnings"]:
                raise typer.Exit(3)
            return
        if as_user is None:
            _fail("MissingActor", "name the national admin making the change with --as", 2)
        staff = session.exec(select(StaffUser).where(StaffUser.username == as_user)).first()
        if (
            staff is None
            or not staff.is_active
            or not staff.has_role(Role.admin)
            or staff.region_scope != ""
        ):
            _fail(PermissionDenied.code, f"{as_user!r} is not an active national admin account.")
            return
        try:
            made = cal.calibrate(
                session=session,
                settings=settings,
                actor=Actor("staff", str(staff.id), "cli"),
                model_name=DLIB_MODEL_NAME,
                model_version=DLIB_MODEL_VERSION,
                target_fmr=target,
                cohort=cohort,
                owners=owners,
            )
            session.commit()
        except AppError as exc:
            _fail(exc.code, exc.message)
            return
        typer.echo(json.dumps(cal.summary(made), indent=2, ensure_ascii=False))


def main() -> None:
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
    except (ValidationError, SettingsError) as exc:  # say what to fix, without a traceback
        if isinstance(exc, ValidationError):
            problems = [str(error["msg"]) for error in exc.errors()]
        else:  # a value the environment gives that cannot be parsed, e.g. a list not in JSON
            problems = [f"{exc} ({exc.__cause__})" if exc.__cause__ else str(exc)]
        listed = "\n".join(f"  {problem}" for problem in problems)
        typer.echo(f"lifecert cannot start, the settings are invalid:\n{listed}", err=True)
        sys.exit(2)


# --- silent certification by data comparison -----------------------------------------------


def _admin_actor(session: Session, as_user: str | None) -> tuple[object, str]:
    """The admin named by --as (audited as that person), or the system for scheduled jobs."""
    from app.audit.service import SYSTEM, Actor
    from app.errors import PermissionDenied
    from models.staff import Role, StaffUser

    if as_user is None:
        return SYSTEM, ""
    staff = session.exec(select(StaffUser).where(StaffUser.username == as_user)).first()
    if staff is None or not staff.is_active or not staff.has_role(Role.admin):
        _fail(PermissionDenied.code, f"{as_user!r} is not an active admin account.")
    assert staff is not None
    return Actor("staff", str(staff.id), "cli"), staff.region_scope


@cli.command("import-feed")
def import_feed(
    feed_type: Annotated[str, typer.Argument(help="death, cremation, hospital_visit, ...")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    source: Annotated[str, typer.Option("--source", help="Source authority of the batch")],
    as_user: Annotated[str | None, typer.Option("--as", help="Admin recorded in the audit")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="csv, jsonl or parquet")] = None,
) -> None:
    """Import a feed batch file; prints the validation report (re-importing changes nothing)."""
    from app.audit.service import Actor
    from app.errors import AppError
    from app.feeds import service
    from app.feeds.validation import Gate
    from models.records import FeedFormat, FeedType

    settings = get_settings()
    try:
        kind = FeedType(feed_type)
        declared = FeedFormat(fmt) if fmt else None
    except ValueError as exc:
        _fail("ValidationError", str(exc), 2)
        return
    with _session() as session:
        actor, scope = _admin_actor(session, as_user)
        assert isinstance(actor, Actor)
        try:
            report = service.import_file(
                session=session,
                settings=settings,
                actor=actor,
                feed_type=kind,
                source_authority=source,
                path=file.resolve(),
                fmt=declared,
                gate=Gate(region_scope=scope),
            )
            session.commit()
        except AppError as exc:
            _fail(exc.code, exc.message)
            return
    typer.echo(report.model_dump_json(indent=2))


@feeds_cli.command("create-client")
def feeds_create_client(
    name: Annotated[str, typer.Argument(help="The agency's system, e.g. 'MPS death registry'")],
    source: Annotated[str, typer.Option("--source", help="Its source authority")],
    as_user: Annotated[str, typer.Option("--as", help="National admin recorded in the audit")],
) -> None:
    """Create a feed client; prints its key once (send it as the X-Feed-Key header)."""
    from app.audit.service import Actor
    from app.errors import AppError, PermissionDenied
    from app.feeds import clients
    from models.staff import StaffUser

    if not source.strip() or len(source.strip()) > 64 or not name.strip() or len(name) > 100:
        _fail("ValidationError", "Give a name (1-100 characters) and a source (1-64).", 2)
    with _session() as session:
        actor, scope = _admin_actor(session, as_user)
        assert isinstance(actor, Actor)
        staff = session.get(StaffUser, uuid.UUID(actor.id))
        if scope or staff is None:
            _fail(PermissionDenied.code, f"{as_user!r} is not a national admin account.")
            return
        try:
            client, key = clients.create(
                session=session,
                actor=actor,
                staff=staff,
                name=name.strip(),
                source_authority=source.strip(),
            )
            session.commit()
        except AppError as exc:
            _fail(exc.code, exc.message)
            return
    typer.echo(
        json.dumps(
            {"id": str(client.id), "name": client.name, "source_authority": source.strip()},
            ensure_ascii=False,
        )
    )
    typer.echo(f"Key (shown once): {key}")


@cli.command("run-matching")
def run_matching(
    as_of: Annotated[str | None, typer.Option(help="Run date YYYY-MM-DD (default today)")] = None,
    region_scope: Annotated[str, typer.Option(help="Region code prefix; empty = national")] = "",
    as_user: Annotated[str | None, typer.Option("--as", help="Admin recorded in the audit")] = None,
    monthly: Annotated[bool, typer.Option(help="Record the run as the monthly one")] = True,
) -> None:
    """Match every recipient in scope against the feeds; prints the counts and timings."""
    from datetime import date

    from app.audit.service import Actor
    from app.errors import AppError
    from app.matching import service
    from models.matching import RunKind

    settings = get_settings()
    with _session() as session:
        actor, scope = _admin_actor(session, as_user)
        assert isinstance(actor, Actor)
        if not region_scope.startswith(scope):
            _fail("RegionOutOfScope", f"{region_scope!r} is outside {as_user}'s region scope.")
        try:
            run = service.run(
                session=session,
                settings=settings,
                actor=actor,
                kind=RunKind.monthly if monthly else RunKind.on_demand,
                as_of=date.fromisoformat(as_of) if as_of else None,
                region_scope=region_scope or scope,
            )
            session.commit()
        except AppError as exc:
            _fail(exc.code, exc.message)
            return
    typer.echo(
        json.dumps(
            {
                "run_id": str(run.id),
                "as_of": run.as_of.isoformat(),
                "counts": run.counts,
                "timings": run.timings,
            },
            indent=2,
        )
    )


@cli.command("gen-synthetic")
def gen_synthetic(
    out: Annotated[Path, typer.Argument(help="Folder for the feed files")],
    recipients: Annotated[int, typer.Option(help="Pensioners in the register")] = 10_000,
    activity: Annotated[int, typer.Option(help="Activity records (all types)")] = 100_000,
    deaths: Annotated[
        int, typer.Option(help="Death records (most of people not in the register)")
    ] = 1_000,
    as_of: Annotated[str, typer.Option(help="The run date the data is made for")] = "2026-11-29",
    seed: Annotated[int, typer.Option(help="Same seed, same data")] = 42,
    load_register: Annotated[bool, typer.Option(help="Also load the register into the DB")] = True,
) -> None:
    """Make a reproducible synthetic population and feeds (Parquet) of any size."""
    from datetime import date

    from app.matching import synthetic

    settings = get_settings()
    files = synthetic.generate(
        out,
        recipients=recipients,
        activity=activity,
        deaths=deaths,
        as_of=date.fromisoformat(as_of),
        seed=seed,
        settings=settings,
    )
    loaded = 0
    if load_register:
        with _session() as session:
            loaded = synthetic.load_register(session=session, settings=settings, folder=out)
            session.commit()
    typer.echo(
        json.dumps(
            {"files": {k: str(v) for k, v in files.items()}, "register_rows_loaded": loaded},
            indent=2,
        )
    )


@cli.command("report")
def report_monthly(
    month: Annotated[str, typer.Argument(help="YYYY-MM")],
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write CSV here")] = None,
    region_code: Annotated[str | None, typer.Option(help="Region code prefix")] = None,
) -> None:
    """The monthly report per region (JSON on stdout, or CSV with --csv)."""
    from datetime import date

    from app.reports import service
    from models.staff import StaffUser

    national = StaffUser(username="cli", password_hash="", roles=["auditor"], region_scope="")
    with _session() as session:
        rows = service.monthly(
            session=session,
            staff=national,
            month=date.fromisoformat(month + "-01"),
            region_prefix=region_code,
        )
    if csv_out:
        csv_out.write_text(service.to_csv(rows), encoding="utf-8")
        typer.echo(f"Wrote {len(rows)} regions to {csv_out}")
    else:
        typer.echo(json.dumps([r.model_dump() for r in rows], ensure_ascii=False, indent=2))
