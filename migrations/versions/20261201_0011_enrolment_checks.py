"""staff enrolments checked against the person's photos and everyone else's: pending faces

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 16:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


# revision identifiers, used by Alembic.
revision: str = '0011'
down_revision: Union[str, None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('enrolled_face', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('enrolment_check', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('approved_by_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_enrolled_face_pending'), ['pending'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('enrolled_face', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrolled_face_pending'))
        batch_op.drop_column('approved_at')
        batch_op.drop_column('approved_by_id')
        batch_op.drop_column('enrolment_check')
        batch_op.drop_column('pending')
