"""certifications and suspensions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 14:01:21.905201

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('certification',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('pensioner_id', sa.Uuid(), nullable=False),
    sa.Column('method', sa.Enum('data_comparison', 'remote_self_service', 'video_call', 'community_visit', 'home_visit', 'consular_document', name='certificationmethod', native_enum=False, length=32), nullable=False),
    sa.Column('certified_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('decided_by_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('decided_by_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('operated_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pensioner_id'], ['pensioner.id'], name=op.f('fk_certification_pensioner_id_pensioner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certification'))
    )
    with op.batch_alter_table('certification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certification_certified_at'), ['certified_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_certification_method'), ['method'], unique=False)
        batch_op.create_index(batch_op.f('ix_certification_pensioner_id'), ['pensioner_id'], unique=False)

    op.create_table('payment_suspension',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('pensioner_id', sa.Uuid(), nullable=False),
    sa.Column('reason', sa.Enum('death', 'certification_overdue', 'ineligible', 'fraud_suspected', name='suspensionreason', native_enum=False, length=32), nullable=False),
    sa.Column('suspended_from', sa.Date(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('resumed_on', sa.Date(), nullable=True),
    sa.Column('resume_reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('back_pay_months', sa.Integer(), nullable=True),
    sa.Column('back_pay_fen', sa.Integer(), nullable=True),
    sa.Column('created_by_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_by_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pensioner_id'], ['pensioner.id'], name=op.f('fk_payment_suspension_pensioner_id_pensioner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_suspension'))
    )
    with op.batch_alter_table('payment_suspension', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_suspension_pensioner_id'), ['pensioner_id'], unique=False)

    with op.batch_alter_table('pensioner', schema=None) as batch_op:
        batch_op.add_column(sa.Column('certified_until', sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f('ix_pensioner_certified_until'), ['certified_until'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('pensioner', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pensioner_certified_until'))
        batch_op.drop_column('certified_until')

    with op.batch_alter_table('payment_suspension', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_suspension_pensioner_id'))

    op.drop_table('payment_suspension')
    with op.batch_alter_table('certification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certification_pensioner_id'))
        batch_op.drop_index(batch_op.f('ix_certification_method'))
        batch_op.drop_index(batch_op.f('ix_certification_certified_at'))

    op.drop_table('certification')
