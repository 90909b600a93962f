"""staff login lockout: consecutive failed logins, the last failure and when the account locked

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 15:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: Union[str, None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('staff_user') as batch:
        batch.add_column(
            sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0')
        )
        batch.add_column(
            sa.Column('last_failed_login_at', sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column('locked_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('staff_user') as batch:
        batch.drop_column('locked_at')
        batch.drop_column('last_failed_login_at')
        batch.drop_column('failed_logins')
