"""keyed audit chain: each event says how its hash was made (0: plain SHA-256, the events
written before the switch; 1: HMAC-SHA256 with LIFECERT_AUDIT_KEY)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 20:40:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0013'
down_revision: Union[str, None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('hash_scheme', sa.Integer(), nullable=False, server_default='0')
        )


def downgrade() -> None:
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_column('hash_scheme')
