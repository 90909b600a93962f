"""A small realistic demo data set so a newcomer can log in and click through."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import date, time, timedelta

from sqlmodel import Session, select

from app import national_id
from app.audit import service as audit
from app.audit.service import SYSTEM
from app.kit import audited
from app.staff import service as staff_service
from models.pensioner import BenefitType, Language, Pensioner, Residence, Sex
from models.region import Region
from models.staff import Role, StaffUser
from models.video_call import AvailabilityRule

REGIONS = [
    ("110105", "北京市朝阳区", None),
    ("110108", "北京市海淀区", None),
    ("310115", "上海市浦东新区", 12),
    ("440305", "深圳市南山区", 6),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = [
    "秀英",
    "桂英",
    "建国",
    "淑珍",
    "志强",
    "玉兰",
    "国华",
    "文杰",
    "丽华",
    "德明",
    "凤英",
    "振华",
]
OVERSEAS = [
    ("CA", "America/Toronto"),
    ("AU", "Australia/Sydney"),
    ("NZ", "Pacific/Auckland"),
    ("US", "America/Los_Angeles"),
    ("DE", "Europe/Berlin"),
    ("JP", "Asia/Tokyo"),
]


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    roles: str
    region_scope: str


def _pensioners(rng: random.Random) -> list[Pensioner]:
    people: list[Pensioner] = []
    for i in range(36):
        region = REGIONS[i % len(REGIONS)][0]
        born = date(1936, 1, 1) + timedelta(days=rng.randrange(0, 365 * 30))
        seq = rng.randrange(100, 999)
        nid = national_id.make(region, born, seq)
        residence = Residence.local if i % 3 == 0 else Residence.away if i % 3 == 1 else None
        country, tz = (None, None)
        if residence is None:
            residence = Residence.overseas
            country, tz = OVERSEAS[i % len(OVERSEAS)]
        people.append(
            Pensioner(
                national_id=nid,
                name=rng.choice(SURNAMES) + rng.choice(GIVEN),
                date_of_birth=born,
                sex=Sex(national_id.sex(nid)),
                phone=f"13{rng.randrange(0, 10**9):09d}",
                region_code=region,
                residence=residence,
                overseas_country=country,
                overseas_timezone=tz,
                benefit_type=BenefitType.unemployment if i % 9 == 4 else BenefitType.pension,
                monthly_amount_fen=rng.randrange(180_000, 900_000, 100),
                mobility_limited=i % 5 == 2,
                preferred_language=Language.en
                if residence is Residence.overseas and i % 2
                else Language.zh,
            )
        )
    return people


def has_data(session: Session) -> bool:
    return session.exec(select(StaffUser.id).limit(1)).first() is not None


def load(session: Session, *, seed: int | None = None) -> list[DemoLogin]:
    """Regions, 36 pensioners of every residence kind and one account per role."""
    rng = random.Random(seed)
    for code, name, period in REGIONS:
        if session.get(Region, code) is None:
            session.add(Region(code=code, name=name, certification_period_months=period))
    session.flush()
    existing = set(session.exec(select(Pensioner.national_id)).all())
    for person in _pensioners(rng):
        if person.national_id not in existing:
            audited.write(
                session=session,
                actor=SYSTEM,
                rows=[person],
                action="pensioner.create",
                entity_type="pensioner",
                entity_id=person.id,
                region_code=person.region_code,
                after=audit.snapshot(person),
            )
    logins: list[DemoLogin] = []
    accounts = [
        ("admin", [Role.admin], ""),
        ("reviewer", [Role.reviewer], "11"),
        ("agent", [Role.video_agent], ""),
        ("community", [Role.community_worker], "110105"),
        ("auditor", [Role.auditor], ""),
    ]
    for username, roles, scope in accounts:
        if session.exec(select(StaffUser.id).where(StaffUser.username == username)).first():
            continue
        password = secrets.token_urlsafe(12)
        staff_service.create(
            session=session,
            actor=SYSTEM,
            username=username,
            password=password,
            roles=[r.value for r in roles],
            region_scope=scope,
            full_name=f"Demo {username}",
        )
        logins.append(
            DemoLogin(username, password, ",".join(r.value for r in roles), scope or "national")
        )
    session.flush()
    _agent_hours(session)
    return logins


def _agent_hours(session: Session) -> None:
    """The demo video agent takes calls on weekdays, 08:00-12:00 and 14:00-20:00 China time
    (mornings suit Europe, evenings the Americas and Oceania)."""
    agent = session.exec(select(StaffUser).where(StaffUser.username == "agent")).first()
    if agent is None:
        return
    if session.exec(
        select(AvailabilityRule.id).where(AvailabilityRule.agent_id == agent.id)
    ).first():
        return
    for weekday in range(5):
        for start, end in ((time(8), time(12)), (time(14), time(20))):
            session.add(
                AvailabilityRule(
                    agent_id=agent.id,
                    weekday=weekday,
                    start_time=start,
                    end_time=end,
                    timezone="Asia/Shanghai",
                )
            )
    session.flush()
