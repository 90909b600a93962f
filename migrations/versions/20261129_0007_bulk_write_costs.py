"""cheaper monthly writes: certification.method and pensioner.certified_until lose their
indexes, and PostgreSQL leaves room in pensioner pages for in-place (HOT) updates

A monthly run at ten million recipients writes millions of certifications and moves
certified_until for each certified pensioner. No query filters on certification.method
alone (reports group it within a month's certifications, found by certified_at). An
indexed certified_until makes every one of those updates rewrite an entry in each of the
pensioner's indexes on PostgreSQL (no HOT update is possible while an indexed column
changes) and moves an entry of the date index on SQLite; the only readers of that index are
the daily reminder schedule and the reports, which scan the register once per day or report
(seconds at ten million rows). Fill factor 75 keeps a quarter of each new pensioner page free
on PostgreSQL, so a changed certified_until fits beside the old row version.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 19:20:00

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.drop_index('ix_certification_method', table_name='certification')
    op.drop_index('ix_pensioner_certified_until', table_name='pensioner')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE pensioner SET (fillfactor = 75)')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE pensioner RESET (fillfactor)')
    op.create_index('ix_pensioner_certified_until', 'pensioner', ['certified_until'], unique=False)
    op.create_index('ix_certification_method', 'certification', ['method'], unique=False)
