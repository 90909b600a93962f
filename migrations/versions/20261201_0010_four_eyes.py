"""four eyes: who confirmed a video-call certification by override or after its time, and a
visit that lifts a death suspension

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 16:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: Union[str, None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TABLES = ('video_appointment', 'verification_task')


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column(
                    'confirmed_by_id',
                    sqlmodel.sql.sqltypes.AutoString(length=64),
                    nullable=True,
                )
            )
            batch.add_column(
                sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True)
            )


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('confirmed_at')
            batch.drop_column('confirmed_by_id')
