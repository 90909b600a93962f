"""certification reminders

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 14:45:27.120813

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('certification_reminder',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('pensioner_id', sa.Uuid(), nullable=False),
    sa.Column('stage', sa.Enum('due_soon', 'overdue', name='reminderstage', native_enum=False, length=32), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pensioner_id'], ['pensioner.id'], name=op.f('fk_certification_reminder_pensioner_id_pensioner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certification_reminder')),
    sa.UniqueConstraint('pensioner_id', 'stage', 'due_date', name=op.f('uq_certification_reminder_pensioner_id'))
    )
    with op.batch_alter_table('certification_reminder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certification_reminder_pensioner_id'), ['pensioner_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('certification_reminder', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certification_reminder_pensioner_id'))

    op.drop_table('certification_reminder')
